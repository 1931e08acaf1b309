"""The `switchboard` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description="Switchboard customer-service engine")
    sub = parser.add_subparsers(dest="command", required=True)
    sc = sub.add_parser("scenario", help="run dispatch scenario files (see docs/scenarios.md)")
    sc.add_argument("files", nargs="+", help="scenario YAML files")
    sc.add_argument("--runtime", choices=("local", "ray", "inline"), default="local")
    sc.add_argument("--hosts", type=int, default=None, help="number of hosts (default: 2 local, 4 ray)")
    sc.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")
    sc.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    from switchboard.processes.serve import add_serve_parser, run_serve

    add_serve_parser(sub)
    from switchboard.processes.admin import add_admin_parser, run_admin

    add_admin_parser(sub)
    from switchboard.llm.cli import add_kb_parser, run_kb

    add_kb_parser(sub)
    from switchboard.processes.reports_cli import add_reports_parser, run_reports

    add_reports_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return run_serve(args)
    if args.command == "admin":
        return run_admin(args)
    if args.command == "kb":
        return run_kb(args)
    if args.command == "reports":
        return run_reports(args)
    if args.command == "scenario":
        from switchboard.scenarios.cli import run_files

        return run_files(args.files, args.runtime, args.hosts, args.ray_address, args.quiet)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
