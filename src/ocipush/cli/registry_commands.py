"""The commands that work on registries and layouts directly, with no project:
``copy``, ``referrers``, ``tag``, ``delete``, ``login`` and ``logout``.

Each handler takes the parsed command line and the output and returns the exit status;
errors are left to :func:`ocipush.cli.main`.
"""

from __future__ import annotations

import argparse
import json

from ocipush.cli.connect import make_keychain, make_transport, make_writer, read_password
from ocipush.cli.output import Output
from ocipush.oci.layout import (
    delete_layout_tag,
    is_layout_reference,
    parse_layout_reference,
    tag_layout,
)
from ocipush.oci.reference import Registry, parse_reference
from ocipush.registry.keychain import Credentials, StaticKeychain, login, logout
from ocipush.registry.referrers import copy, open_place, walk_referrers
from ocipush.registry.remote import Remote

__all__ = ["copy_command", "delete", "login_command", "logout_command", "referrers", "tag"]


def copy_command(args: argparse.Namespace, out: Output) -> int:
    with out.progress() as progress:
        landed = copy(
            args.source,
            args.destination,
            make_writer(args, progress),
            referrers=not args.no_referrers,
        )
    out.result(landed)
    return 0


def referrers(args: argparse.Namespace, out: Output) -> int:
    place = open_place(args.reference, Remote(make_transport(args, make_keychain(args))))
    found = walk_referrers(place, place.root())
    if args.json:
        out.result(json.dumps([referrer.to_json() for referrer in found], indent=2))
        return 0
    for referrer in found:
        out.result(referrer.line())
    return 0


def tag(args: argparse.Namespace, out: Output) -> int:
    if is_layout_reference(args.reference):
        layout = parse_layout_reference(args.reference)
        descriptor = tag_layout(layout, args.new_tag)
        out.result(f"oci:{layout.path}:{args.new_tag}@{descriptor.digest}")
        return 0
    writer = make_writer(args, None)
    ref = parse_reference(args.reference)
    target = ref.with_tag(args.new_tag)
    document = Remote(writer.transport).manifest(ref)
    descriptor = writer.put(target, document)
    out.result(f"{target.repository.name}@{descriptor.digest}")
    return 0


def delete(args: argparse.Namespace, out: Output) -> int:
    if is_layout_reference(args.reference):
        layout = parse_layout_reference(args.reference)
        delete_layout_tag(layout)
        out.result(str(layout))
        return 0
    writer = make_writer(args, None)
    ref = parse_reference(args.reference)
    deleted = writer.delete(ref, force=args.force)
    name = ref.repository.name
    if deleted.manifest:
        out.result(f"{name}@{deleted.digest}")
    for tag in deleted.tags:
        out.result(f"{name}:{tag}")
    return 0


def login_command(args: argparse.Namespace, out: Output) -> int:
    registry = Registry.parse(args.registry)
    password = read_password(args, registry.host)
    creds = Credentials.from_secret(args.username, password, source="--username")
    # Checked first, as docker does: a typo should not be stored and found out at push time.
    transport = make_transport(args, StaticKeychain({registry.host: creds}))
    transport.verify_credentials(registry)
    path = login(registry, args.username, password)
    out.result(f"Login succeeded: credentials for {registry.host} stored via {path}")
    return 0


def logout_command(args: argparse.Namespace, out: Output) -> int:
    registry = Registry.parse(args.registry)
    if logout(registry):
        out.result(f"Removed credentials for {registry.host}")
    else:
        out.result(f"Not logged in to {registry.host}; nothing to remove")
    return 0
