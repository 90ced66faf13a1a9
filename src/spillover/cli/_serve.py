"""``spillover serve``: the embedded model server, kept running for several runs."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from spillover.cli._app import app
from spillover.cli._console import err_console, out_console

__all__ = ["serve_command"]


@app.command("serve")
def serve_command(
    gguf: Annotated[
        str | None,
        typer.Option("--llm-gguf", help="A GGUF model file. \\[default: the bundled SmolLM2-135M]"),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port on 127.0.0.1. \\[default: a free one]")
    ] = None,
    slots: Annotated[
        int, typer.Option("--slots", help="Requests the server works on at once.")
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads. \\[default: the idle CPUs, at most 8]"),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name to serve under.")] = None,
) -> None:
    """Serve a model with llama.cpp's OpenAI-compatible server on 127.0.0.1 until Ctrl-C.

    Prints the base URL and the model name; point runs at it with
    --llm-base-url URL --llm-model NAME (several runs then share one loaded model and its
    prompt cache). Listens on the loopback address only.
    """
    from spillover.llm import LocalServer

    server = LocalServer(gguf, port=port, slots=slots, threads=threads, alias=model)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        err_console.print(f"loading {server.model.name} ({server.model.size:,} bytes) ...")
        with server:
            out_console.print(
                f"serving {server.alias} at {server.base_url} "
                f"({server.total_slots} slot(s), {server.threads} thread(s)); Ctrl-C stops it",
                markup=False,
                highlight=False,
            )
            out_console.print(
                f"use: spillover simulate --llm-base-url {server.base_url} "
                f"--llm-model {server.alias}",
                markup=False,
                highlight=False,
            )
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        err_console.print("server stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
