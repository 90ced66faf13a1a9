"""Rendering an :class:`Event` as the short news post that enters the simulated network."""

from __future__ import annotations

from spillover.events._dates import format_news_date
from spillover.events._event import Event

__all__ = ["render_post"]


def render_post(event: Event) -> str:
    """Render an event as a short plain-text news post.

    This text is what the seed agents see when they learn of the offline event at t = 0, and
    it is what the LLM prompts carry as the news item, in both fidelity modes. Changing the
    wording therefore changes every prompt, and with it every cache key of an LLM run.

    The post has up to three lines, separated by ``"\\n"``, with no trailing newline:

    1. a headline: event type, sub-type in parentheses when it adds something, place (location,
       admin1, country, skipping blanks and repeats) and date, e.g.
       ``Battles (Armed clash) in Marrow Ford, Northern Reach, Republic of Veloria on 5 March
       2024``;
    2. ``Actors involved: A and B. Reported fatalities: 12.``, each sentence present only when
       there are actors, respectively more than zero fatalities (the line is left out when
       neither applies);
    3. the summary (ACLED's notes), left out when empty.

    Runs of whitespace inside fields are collapsed to one space. The output depends only on the
    event (no locale, clock or randomness), so the same event always gives the same post.

    Parameters
    ----------
    event : Event

    Returns
    -------
    str
    """
    kind = _squash(event.event_type)
    sub_kind = _squash(event.sub_event_type)
    if sub_kind and sub_kind.casefold() != kind.casefold():
        kind = f"{kind} ({sub_kind})"
    lines = [f"{kind} in {_place(event)} on {format_news_date(event.date)}"]

    details: list[str] = []
    if event.actors:
        details.append(f"Actors involved: {_join_names([_squash(a) for a in event.actors])}.")
    if event.fatalities > 0:
        details.append(f"Reported fatalities: {event.fatalities}.")
    if details:
        lines.append(" ".join(details))

    summary = _squash(event.summary)
    if summary:
        lines.append(summary)
    return "\n".join(lines)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _place(event: Event) -> str:
    parts: list[str] = []
    # ACLED often repeats a name across levels (a capital district named after its city).
    seen: set[str] = set()
    for part in (event.location, event.admin1, event.country):
        part = _squash(part)
        if part and part.casefold() not in seen:
            seen.add(part.casefold())
            parts.append(part)
    return ", ".join(parts)


def _join_names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
