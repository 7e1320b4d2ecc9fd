"""``python -m vae list``: the runs in a checkpoint folder, shipped ones first."""

from __future__ import annotations

import argparse
import json

from vae.cli.common import EXIT_OK, result

MAX_LABEL = 48  # a longer description is shortened with "…", so that the columns after it stay aligned


def _cell(text: str, width: int) -> str:
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)


def cmd_list(args: argparse.Namespace) -> int:
    from vae.runfile import list_runs

    runs = list_runs(args.checkpoint_dir)
    if args.json:
        result(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "shipped": r.shipped,
                        "status": r.status,  # as a person should read it: a run whose writer is gone is interrupted
                        "config": r.config.to_dict() if r.config else None,
                        "final": r.final,
                        "error": r.error,
                    }
                    for r in runs
                ]
            )
        )
        return EXIT_OK
    name_width = max((len(r.name) for r in runs), default=0)
    label_width = min(MAX_LABEL, max((len(r.config.label) for r in runs if r.config), default=0))
    for r in runs:
        if r.error:
            result(f"{r.name.ljust(name_width)}  unreadable: {r.error}")
            continue
        loss = r.final.get("test", {}).get("loss", float("nan"))
        shipped = "  (shipped)" if r.shipped else ""
        status = f"  {r.status}" if r.status not in ("completed", "imported") else ""
        result(
            f"{r.name.ljust(name_width)}  {_cell(r.config.label, label_width)}  test loss {loss:8.2f}{shipped}{status}"
        )
    return EXIT_OK
