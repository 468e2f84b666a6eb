"""Verify verdict.intoto.json with securesystemslib, without pytest-staging installed.

    python verify_with_securesystemslib.py staging-report/verdict.intoto.json staging-signing.pub

Exit 0 and print the subject and the test result when the DSSE signature verifies with the
public key; exit 1 otherwise. Needs: pip install securesystemslib
"""

import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey


def main(envelope_path: str, public_key_path: str) -> int:
    with open(envelope_path, encoding="utf-8") as handle:
        envelope = Envelope.from_dict(json.load(handle))
    with open(public_key_path, "rb") as handle:
        public_key = load_pem_public_key(handle.read())
    # securesystemslib matches signatures to keys by keyid: ours is the sha256 of the DER
    # public key, which is also what the envelope names.
    keys = [SSlibKey.from_crypto(public_key, keyid=sig.keyid)
            for sig in envelope.signatures.values()]
    try:
        envelope.verify(keys, 1)
    except VerificationError as exc:
        print(f"REFUSED: {exc}")
        return 1
    statement = json.loads(envelope.payload)
    subject = statement["subject"][0]
    print(f"verified: {statement['predicateType']}")
    print(f"subject: {subject.get('name')} sha256:{subject['digest']['sha256']}")
    print(f"result: {statement['predicate']['result']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
