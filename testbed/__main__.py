"""``python -m testbed up --hosts N --estate PATH [--name NAME]`` / ``down [NAME|--all]`` / ``list``."""

from __future__ import annotations

import argparse
import sys
import time

from testbed import alloc
from testbed.bed import TestBed, destroy_all
from testbed.netns import TestbedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build a persistent test bed")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--name", default=None)
    up.add_argument("--estate", default=None, help="also write the estate file here")
    up.add_argument("--no-http", action="store_true", help="no HTTP service on the hosts")
    down = sub.add_parser("down", help="tear down a test bed (or all, including stale ones)")
    down.add_argument("name", nargs="?")
    down.add_argument("--all", action="store_true")
    sub.add_parser("list", help="list test beds")
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


def _dispatch(args: argparse.Namespace) -> int:
    if args.cmd == "up":
        t0 = time.monotonic()
        bed = TestBed.create(
            args.hosts, args.name, persistent=True, http=not args.no_http, estate_path=args.estate
        )
        print(f"test bed {bed.name}: {len(bed.hosts)} hosts on {bed.subnet} in {time.monotonic() - t0:.1f}s")
        print(f"estate: {args.estate or bed.estate_path}")
        print(
            f"ssh: ssh -i {bed.client_key_path} -o UserKnownHostsFile={bed.known_hosts_path} "
            f"{bed.hosts[0].user}@{bed.hosts[0].address}"
        )
        return 0
    if args.cmd == "down":
        if args.all:
            names = destroy_all()
            print(f"removed: {', '.join(names) or 'nothing'}")
            return 0
        if not args.name:
            print("error: give a test bed name or --all", file=sys.stderr)
            return 2
        with alloc.alloc_lock():
            TestBed.attach(args.name).destroy()
        print(f"removed: {args.name}")
        return 0
    for name in alloc.list_instances():
        state = alloc.InstanceState.load(name)
        owner = "persistent" if state.owner_pid is None else f"pid {state.owner_pid}"
        stale = " (stale)" if state.is_stale() else ""
        print(f"{name}\t{len(state.hosts)} hosts\t10.213.{state.slot}.0/24\t{owner}{stale}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
