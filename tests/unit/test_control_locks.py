"""Per-app locks: one holder at a time per key, forgotten once nobody holds or awaits them."""

from __future__ import annotations

import asyncio

from paas.control.locks import KeyedLocks


async def test_holders_of_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with locks.hold("app-a"):
            order.append("a1 in")
            first_in.set()
            await release_first.wait()
            order.append("a1 out")

    async def second() -> None:
        async with locks.hold("app-a"):
            order.append("a2 in")

    async def other() -> None:
        async with locks.hold("app-b"):
            order.append("b in")

    t1 = asyncio.create_task(first())
    await first_in.wait()
    t2 = asyncio.create_task(second())
    await asyncio.sleep(0)
    await other()  # a different app is not held up
    assert locks.users("app-a") == 2 and locks.users("app-b") == 0
    release_first.set()
    await asyncio.gather(t1, t2)
    assert order == ["a1 in", "b in", "a1 out", "a2 in"]
    assert len(locks) == 0  # nothing kept once free


async def test_a_holder_that_raises_frees_the_key() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("app"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert locks.users("app") == 0 and len(locks) == 0
    async with locks.hold("app"):
        assert locks.users("app") == 1
