"""`paybridge dlq`: dead letters listed by triage state, shown with their history, resolved,
ignored, commented, assigned, replayed after a fix, purged. Every change is audited as
``cli:<os user>`` and kept in the dead letter's own history."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from paybridge.cli.common import (
    ConfigOption,
    audit_cli,
    audit_log,
    cli_actor,
    err,
    friendly,
    out,
    settings_from,
    store_of,
)
from paybridge.runtime.queue import TRIAGE_STATES

dlq_app = typer.Typer(
    help="Dead letters: list, show, resolve, ignore, comment, reopen, replay, purge.",
    no_args_is_help=True,
)

MessageId = Annotated[int, typer.Argument(help="Dead letter id (see `dlq list`).")]
CommentOption = Annotated[
    str | None, typer.Option("--comment", "-m", help="Why; kept with who and when.")
]
AssigneeOption = Annotated[str | None, typer.Option("--assignee", help="Who looks after it.")]


def _store(config: Any) -> Any:

    settings = settings_from(config)
    return settings, store_of(settings)


@dlq_app.command("list")
@friendly
def dlq_list(
    config: ConfigOption = None,
    match: Annotated[str | None, typer.Option(help="Only keys or reasons containing this.")] = None,
    state: Annotated[str, typer.Option(help="open (default), resolved, ignored or all.")] = "open",
) -> None:
    """Dead letters with their reason, state and assignee (open ones unless --state says)."""
    if state not in (*TRIAGE_STATES, "all"):
        err.print("[red]error:[/red] --state: use open, resolved, ignored or all")
        raise typer.Exit(2)
    _, store = _store(config)
    table = Table(title=f"Dead letters ({state})")
    for column in ("id", "key", "attempts", "state", "assignee", "reason"):
        table.add_column(column)
    rows = store.queue.dead_letters(
        limit=1000, match=match, state=None if state == "all" else state
    )
    for row in rows:
        # Keys and reasons carry ids from outside: text, never read as Rich markup.
        table.add_row(
            *(Text(str(row[c] if row[c] is not None else ""))
              for c in ("id", "key", "attempts", "triage_state", "assignee", "dead_reason"))
        )  # fmt: skip
    out.print(table)


@dlq_app.command("show")
@friendly
def dlq_show(message_id: MessageId, config: ConfigOption = None) -> None:
    """One dead letter: reason, attempts, last error, state, history and its payload (redacted)."""
    from paybridge.security.cardguard import redact

    _, store = _store(config)
    row = store.queue.dead_letter(message_id)
    if row is None:
        err.print(f"[red]error:[/red] message_id: no dead letter {message_id}")
        raise typer.Exit(2)
    payload = redact(json.loads(row["payload"]))
    fields = (
        "id", "topic", "key", "attempts", "dead_reason", "last_error", "triage_state",
        "assignee", "triaged_by", "triaged_at", "replays", "created_at", "updated_at",
    )  # fmt: skip
    shown = {k: row[k] for k in fields}
    history = store.queue.history(message_id)
    print(json.dumps({**shown, "history": history, "payload": payload}, indent=2, default=str))


def _triage(
    action: str, message_id: int, config: Any, comment: str | None, assignee: str | None
) -> None:
    settings, store = _store(config)
    actor = cli_actor()
    row = store.queue.triage(message_id, action, actor, comment=comment, assignee=assignee)
    audit_cli(
        audit_log(settings, store.engine), f"dlq.{action}", f"dlq:{message_id}",
        outcome="ok" if row is not None else "not_found", comment=comment, assignee=assignee,
        **({"key": row["key"], "state": row["triage_state"]} if row is not None else {}),
    )  # fmt: skip
    if row is None:
        err.print(f"[red]error:[/red] message_id: no dead letter {message_id}")
        raise typer.Exit(2)
    who = f", assigned to {row['assignee']}" if row["assignee"] else ""
    out.print(Text(f"{message_id} {row['key']}: {row['triage_state']}{who} (by {actor})"))


@dlq_app.command("resolve")
@friendly
def dlq_resolve(
    message_id: MessageId, comment: CommentOption = None, assignee: AssigneeOption = None,
    config: ConfigOption = None,
) -> None:  # fmt: skip
    """Mark a dead letter resolved (fixed another way); it leaves the open list."""
    _triage("resolve", message_id, config, comment, assignee)


@dlq_app.command("ignore")
@friendly
def dlq_ignore(
    message_id: MessageId, comment: CommentOption = None, assignee: AssigneeOption = None,
    config: ConfigOption = None,
) -> None:  # fmt: skip
    """Mark a dead letter ignored (nothing to do); it leaves the open list."""
    _triage("ignore", message_id, config, comment, assignee)


@dlq_app.command("reopen")
@friendly
def dlq_reopen(
    message_id: MessageId, comment: CommentOption = None, assignee: AssigneeOption = None,
    config: ConfigOption = None,
) -> None:  # fmt: skip
    """Put a resolved or ignored dead letter back on the open list."""
    _triage("reopen", message_id, config, comment, assignee)


@dlq_app.command("comment")
@friendly
def dlq_comment(
    message_id: MessageId,
    text: Annotated[str, typer.Argument(help="The comment.")],
    assignee: AssigneeOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a comment (and optionally an assignee) to a dead letter; its state stays."""
    _triage("assign" if not text.strip() else "comment", message_id, config, text or None, assignee)


@dlq_app.command("replay")
@friendly
def dlq_replay(
    message_id: Annotated[
        int | None, typer.Argument(help="Dead letter id (see `dlq list`).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Replay every open dead letter (with --match: those).")
    ] = False,
    match: Annotated[str | None, typer.Option(help="Only keys or reasons containing this.")] = None,
    comment: CommentOption = None,
    config: ConfigOption = None,
) -> None:
    """Put dead letters back in the queue after a fix: one by id, or all open ones that match.

    The message keeps its history: why it died, and who replayed it when (`dlq show`, `trace`).
    """
    if (message_id is None) == (not all_):
        err.print("[red]error:[/red] message_id: give one id, or --all (optionally with --match)")
        raise typer.Exit(2)
    settings, store = _store(config)
    queue = store.queue
    ids = (
        [message_id]
        if message_id is not None
        else [int(r["id"]) for r in queue.dead_letters(limit=1_000_000, match=match, state="open")]
    )
    actor = cli_actor()
    done = [i for i in ids if queue.replay(i, actor=actor, comment=comment)]
    found = message_id is None or bool(done)
    audit_cli(
        audit_log(settings, store.engine), "dlq.replay",
        f"dlq:{message_id}" if message_id is not None else "dlq:all",
        outcome="ok" if found else "not_found", match=match, replayed=len(done), ids=done[:200],
        comment=comment,
    )  # fmt: skip
    if not found:
        err.print(f"[red]error:[/red] message_id: no dead letter {message_id}")
        raise typer.Exit(2)
    out.print(f"replaying {len(done)} dead letter(s)")


@dlq_app.command("purge")
@friendly
def dlq_purge(message_id: MessageId, config: ConfigOption = None) -> None:
    """Drop one dead letter for good; the fact stays known, so it is not taken in again."""
    settings, store = _store(config)
    row = store.queue.dead_letter(message_id)
    purged = store.queue.purge(message_id)
    what = {"key": row["key"], "topic": row["topic"]} if row is not None else {}
    audit_cli(
        audit_log(settings, store.engine), "dlq.purge", f"dlq:{message_id}",
        outcome="ok" if purged else "not_found", **what,
    )  # fmt: skip
    if not purged:
        err.print(f"[red]error:[/red] message_id: no dead letter {message_id}")
        raise typer.Exit(2)
    out.print(f"purged {message_id}")
