"""The network simulator: the real rules of coordinator_free driven by virtual nodes.

A discrete-event simulation with a virtual clock (DESIGN.md §18). Nodes join
and leave, claim layers, pick modes, form and renew quorums, train, sync,
grow the model, vote on vocabulary, serve inference, prove their work, get
spot-checked, earn and get slashed — every decision by the rule functions of
coordinator_free, never by a copy of them. What the simulator adds is the
world around the rules: hardware, arrivals, crashes, attackers, time.

Entry points: `load_scenario` (scenario.py), `Simulation` (engine.py),
`run_scenario` (engine.py) and the `neuroshard simulate` command (cli.py).
"""
