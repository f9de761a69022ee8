"""What a client signs to log in (docs/protocol.md section 2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from crypto import SigningKey, b64url_encode, sign

if TYPE_CHECKING:
    from collections.abc import Mapping

# The purpose label of the signature a client makes to answer a login challenge.
LOGIN_LABEL: Final = "login"


def login_document(challenge: Mapping[str, Any], client_time: str) -> dict[str, str]:
    """What a client signs (label `login`) to answer a challenge from POST /api/auth/challenge."""
    return {
        "type": "login",
        "challenge": str(challenge["challenge"]),
        "participant": str(challenge["participant"]),
        "nonce": str(challenge["nonce"]),
        "node": str(challenge["node"]),
        "time": client_time,
    }


def answer_challenge(
    challenge: Mapping[str, Any], key: SigningKey, client_time: str
) -> dict[str, str]:
    """The body of POST /api/auth/login: the challenge signed with the participant's key."""
    signature = sign(key, LOGIN_LABEL, login_document(challenge, client_time))
    return {
        "challenge": str(challenge["challenge"]),
        "participant": str(challenge["participant"]),
        "time": client_time,
        "signature": b64url_encode(signature),
    }
