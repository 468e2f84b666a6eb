"""``pytest-staging keygen --out DIR``: an Ed25519 key pair for signed attestations.

The private key (``staging-signing.key``, PKCS#8 PEM) is created with mode 0600 and never
printed; the public key (``staging-signing.pub``) is what deploy jobs give ``verify
--public-key``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pytest_staging.attestation import AttestationError, key_id, load_public_key, write_key_pair


def add_keygen_parser(sub: Any) -> None:
    """The ``keygen`` subcommand's parser."""
    p = sub.add_parser("keygen", help="write an Ed25519 key pair for signed attestations",
                       description="write staging-signing.key (private, mode 0600) and "
                                   "staging-signing.pub (public) into DIR")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the two key files")
    p.add_argument("--force", action="store_true", help="replace existing key files [refused]")


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write the key pair; print where, and the public key's id (never the private key)."""
    try:
        private, public = write_key_pair(Path(args.out), force=args.force)
    except AttestationError as exc:
        print(f"pytest-staging keygen: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pytest-staging keygen: cannot write to {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    keyid = key_id(load_public_key(public.read_bytes(), str(public)))
    print(f"private key: {private} (mode 0600: keep it secret, e.g. a CI secret "
          "STAGING_SIGNING_KEY)")
    print(f"public key:  {public} (keyid {keyid}; give it to verify --public-key)")
    return 0
