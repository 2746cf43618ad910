"""``ocipush verify``: check the signatures attached to an image, by key or keyless."""

from __future__ import annotations

import argparse

from ocipush.attest.verify import key_check, keyless_check, verify
from ocipush.cli.connect import make_keychain, make_transport
from ocipush.cli.output import Output
from ocipush.cli.remedies import UsageError
from ocipush.registry.referrers import open_place
from ocipush.registry.remote import Remote

__all__ = ["verify_command"]


def verify_command(args: argparse.Namespace, out: Output) -> int:
    keyless = args.certificate_identity or args.certificate_oidc_issuer
    if args.key is not None and keyless:
        raise UsageError("--key and --certificate-identity exclude each other; give one")
    if args.key is not None:
        check = key_check(args.key)
    elif args.certificate_identity and args.certificate_oidc_issuer:
        check = keyless_check(
            args.certificate_identity, args.certificate_oidc_issuer, args.trust_config
        )
    else:
        raise UsageError(
            "verify needs --key PUBLIC.pem, or --certificate-identity and "
            "--certificate-oidc-issuer for keyless signatures"
        )
    place = open_place(args.reference, Remote(make_transport(args, make_keychain(args))))
    report = verify(place, check, place.root().descriptor().digest)
    out.result("\n".join(report.lines(args.reference)))
    if report.failures:
        out.error_line(f"{len(report.failures)} check(s) failed on {args.reference}")
        return 1
    return 0
