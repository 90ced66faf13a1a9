"""``spillover prompts show``: the exact prompts an LLM agent gets, for any persona and event."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from spillover.cli._app import app

__all__ = ["prompts_app", "show_command"]

prompts_app = typer.Typer(
    help="The versioned prompt templates of LLM agents.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(prompts_app, name="prompts")


@prompts_app.command("show")
def show_command(
    persona: Annotated[
        str,
        typer.Option("--persona", "-p", help="Persona index (0-31) or code such as O+C-E+A-N+."),
    ] = "0",
    events: Annotated[
        str | None,
        typer.Option("--events", help="ACLED-format CSV. \\[default: bundled fictional examples]"),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--event-id", help="event_id_cnty of the event. \\[default: first]"),
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="archetype or feed.")] = "archetype",
    n_exposed: Annotated[
        int,
        typer.Option("--n-exposed", "-m", help="Informed neighbours (archetype: its bucket)."),
    ] = 0,
    post: Annotated[
        list[str] | None,
        typer.Option(
            "--post",
            help="Feed mode: a neighbour's post (repeat, newest first). \\[default: the news "
            "post, once per informed neighbour]",
        ),
    ] = None,
    buckets: Annotated[
        str, typer.Option("--buckets", help="Exposure buckets (lower edges).")
    ] = "0,1,2,3,5,9",
    feed_cap: Annotated[int, typer.Option("--feed-cap", help="Feed mode: most posts shown.")] = 5,
    model: Annotated[
        str, typer.Option("--model", help="Model name put in the --json request body.")
    ] = "MODEL",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the chat-completion request body as JSON.")
    ] = False,
) -> None:
    """Print the system prompt, the user prompt and the answer schema of one LLM request.

    Archetype mode shows the prompt of the exposure bucket that --n-exposed falls in; feed mode
    shows the given neighbours' posts (at most --feed-cap of them).
    """
    from spillover._vocab import LLM_MODES
    from spillover.events import render_post, select_events
    from spillover.exceptions import ConfigError
    from spillover.io import example_events, read_events
    from spillover.llm import archetype_messages, feed_messages, prompt_version, response_schema
    from spillover.personas import persona as persona_at
    from spillover.personas import persona_from_code
    from spillover.policies import ExposureBuckets

    if mode not in LLM_MODES:
        raise ConfigError(f"--mode must be {' or '.join(LLM_MODES)}; got {mode!r}")
    if n_exposed < 0:
        raise ConfigError(f"--n-exposed must be >= 0; got {n_exposed}")
    who = persona_at(int(persona)) if persona.strip().isdigit() else persona_from_code(persona)
    all_events = example_events() if events is None else read_events(events)
    event = all_events[0] if event_id is None else select_events(all_events, event_id=event_id)[0]
    if mode == "archetype":
        bk = ExposureBuckets.parse(buckets)
        bucket = int(bk.index(n_exposed))
        low, high = bk.bounds(bucket)
        messages = archetype_messages(who, event, low, high)
        where = f"exposure bucket {bk.label(bucket)}"
    else:
        posts = list(post) if post else [render_post(event)] * n_exposed
        if post and n_exposed < len(posts):
            n_exposed = len(posts)
        messages = feed_messages(who, event, n_exposed, posts[:feed_cap])
        where = f"{n_exposed} informed neighbours, {min(len(posts), feed_cap)} posts shown"
    schema = response_schema(mode)
    if as_json:
        body = {
            "model": model,
            "messages": [{"role": r, "content": c} for r, c in messages],
            "response_format": schema,
        }
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    # Plain echo, not rich: prompts hold brackets and tags that must print as they are.
    typer.echo(
        f"# prompt version {prompt_version(mode)}; persona {who.index} ({who.code}), "
        f"event {event.event_id}, {mode} mode, {where}"
    )
    for role, content in messages:
        typer.echo(f"\n## {role}\n{content}")
    typer.echo("\n## response_format (sent where the server accepts structured output)")
    typer.echo(json.dumps(schema, indent=2))
