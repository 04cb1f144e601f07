"""`neuroshard dashboard` and `neuroshard run --dashboard`: the Textual dashboard from the CLI.

The dashboard (tui/) is a client of the local API; this module only starts
it. It is the one place the agent imports tui/, lazily, so an agent without
the dashboard extra never loads Textual, and says how to install it.

`run --dashboard` runs the Node and the app in one process and one asyncio
loop: the Node as a task beside `App.run_async()`. That loop is free while
the node trains (steps run in worker threads), and the dashboard reaches the
node over its local API on 127.0.0.1 like any other dashboard, so what it
shows is exactly what a remote one would. Quitting the dashboard asks the
node to stop: it finishes the step in flight and saves a checkpoint before
the command returns, printing those last lines to the terminal. While the
app owns the terminal, log records go to the node's log pane only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import AgentConfig, default_state_dir
from .errors import AgentError
from .progress import ProgressPrinter

EXIT_OK = 0
DEFAULT_REFRESH_S = 1.0  # dashboard polls per second (the agent answers in milliseconds)
INSTALL_HINT = "pip install 'neuroshard-agent[dashboard]'"


def _dashboard_modules() -> Any:
    """tui.app and tui.client, or an AgentError that says how to install Textual."""
    try:
        import textual  # noqa: F401  (only to tell a missing Textual from any other ImportError)
    except ImportError:
        raise AgentError(f"the dashboard needs Textual, which is not installed; install it with: {INSTALL_HINT}") from None
    from tui import app, client

    return app, client


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help=f"state directory of the agent to watch (default: {default_state_dir()})")
    parser.add_argument("--agent", default=None, metavar="URL",
                        help="local API of an agent elsewhere, e.g. http://127.0.0.1:8471 through an SSH tunnel")
    parser.add_argument("--token", default=None,
                        help="that agent's API token (its <state>/api_token); default: the one in --state-dir")
    parser.add_argument("--refresh", type=float, default=DEFAULT_REFRESH_S, metavar="SECONDS",
                        help=f"seconds between updates (default: {DEFAULT_REFRESH_S:g})")


def command_dashboard(args: argparse.Namespace) -> int:
    app_module, client_module = _dashboard_modules()
    state_dir: Path = args.state_dir or default_state_dir()
    if args.refresh <= 0:
        raise AgentError(f"--refresh must be a positive number of seconds, got {args.refresh}")
    if args.agent:
        token = args.token
        if token is None:
            try:
                token = (state_dir / "api_token").read_text().strip()
            except OSError:
                raise AgentError(f"--agent {args.agent} needs --token: the agent's token is in its state directory "
                                 f"(<state>/api_token); none in {state_dir}") from None
        locator = client_module.FixedLocator(args.agent, token)
    else:
        locator = client_module.StateDirLocator(state_dir)
    app_module.DashboardApp(locator, refresh_s=args.refresh).run()
    return EXIT_OK


async def run_with_dashboard(config: AgentConfig, printer: ProgressPrinter, *, refresh_s: float = DEFAULT_REFRESH_S) -> None:
    """The node and the dashboard in one loop; returns when both are done (see the module docstring)."""
    app_module, client_module = _dashboard_modules()
    from .node import Node

    app = app_module.DashboardApp(client_module.StateDirLocator(config.state_dir), refresh_s=refresh_s)
    app_running = True
    node = Node(config, on_event=lambda kind, data: None if app_running else printer(kind, data))

    async def run_node() -> None:
        try:
            async with node:
                await node.run()
        finally:
            app.exit()  # the node ended (max steps, an error): the dashboard has nothing left to show

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.exit)
    node_task = loop.create_task(run_node(), name="node")
    try:
        with _log_lines_off_the_terminal():
            await app.run_async()
    finally:
        app_running = False
        loop.remove_signal_handler(signal.SIGTERM)
        if not node_task.done():
            printer.say("dashboard closed: finishing the current step and saving…")
            node.request_stop()
        await node_task  # owned to the end; re-raises what stopped the node


@contextlib.contextmanager
def _log_lines_off_the_terminal() -> Iterator[None]:
    """While the app owns the terminal, log records reach only the node's log pane, not stderr."""
    root = logging.getLogger()
    terminal_handlers, terminal_level = root.handlers[:], root.getEffectiveLevel()
    root.handlers[:] = []
    try:
        yield
    finally:
        for handler in terminal_handlers:  # the node's log buffer may hold the root lower until it stops
            if handler.level == logging.NOTSET:
                handler.setLevel(terminal_level)
        root.handlers[:] = terminal_handlers + [h for h in root.handlers if h not in terminal_handlers]
