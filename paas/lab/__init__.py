"""The router-error lab: scenarios that make router errors happen on purpose and explain them.

`paas lab` lists the scenarios, `paas lab:run NAME` runs one (see paas/lab/engine.py).
"""
