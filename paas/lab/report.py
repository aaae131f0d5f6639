"""A scenario's result as text for a terminal (the JSON form is Result.to_json())."""

from __future__ import annotations

from collections import Counter

from paas.lab.engine import Result


def counts(counter: Counter[str] | dict[str, int]) -> str:
    items = sorted(counter.items(), key=lambda kv: (not kv[0].isdigit(), kv[0]))
    return ", ".join(f"{k} x {v}" for k, v in items) or "none"


def render(result: Result) -> list[str]:
    out = [f"=== {result.scenario}: {result.summary}"]
    for v in result.variants:
        load = v.load.to_json()
        out += [
            "",
            f"--- {v.label}  ({v.app})",
            f"Action:  {v.action}",
            f"Router:  {counts(v.router)}",
            f"Clients: {counts(v.load.outcomes)}  (sent {load['sent']} in {load['seconds']}s, "
            f"p50 {load['p50_ms']}ms, p99 {load['p99_ms']}ms, max {load['max_ms']}ms)",
        ]
        out += [f"Note:    {note}" for note in v.notes]
        if v.samples:
            out.append("Log:")
            out += [f"  {line}" for line in v.samples]
    if result.table:
        out += ["", "=== Side by side", *result.table]
    out += ["", "=== Checks"]
    out += [f" {'✓' if c.ok else '✗'} {c.text}" for c in result.checks]
    out += ["", "=== What happened", *result.explanation.splitlines(), ""]
    timers = ", ".join(f"{k}={v:g}s" for k, v in sorted(result.timers.items()))
    out.append(f"Timers: {timers}")
    verdict = "as expected" if result.ok else "NOT as expected (see ✗ above)"
    out.append(f"Result: {verdict} in {result.seconds:.1f}s")
    return out
