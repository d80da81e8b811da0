"""Verifies our tokens the way a Django REST framework service with SimpleJWT does, with nothing of ours.

PyJWT (Debian's python3-jwt, the library SimpleJWT is built on) fetches the signing key from our
JWKS over HTTP with PyJWKClient, checks the EdDSA signature, exp, aud and iss, and then, as
SimpleJWT's AccessToken does, refuses a token whose token_type is not "access".

Usage: /usr/bin/python3 pyjwt_verify.py JWKS_URL AUDIENCE ISSUER < {"name": "token", ...}
Prints {"pyjwt": version, "results": {"name": {"ok": true, "claims": {...}} | {"ok": false, "error": ..., "message": ...}}}
"""
import json
import sys

import jwt
from jwt import PyJWKClient


class WrongTokenType(jwt.InvalidTokenError):
    pass


def verify(client, token, audience, issuer):
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "sub", "jti"]},
    )
    # SimpleJWT: settings.TOKEN_TYPE_CLAIM ("token_type") must equal AccessToken.token_type.
    if claims.get("token_type") != "access":
        raise WrongTokenType("Token has wrong type")
    return claims


def main():
    jwks_url, audience, issuer = sys.argv[1:4]
    tokens = json.load(sys.stdin)
    client = PyJWKClient(jwks_url)
    results = {}
    for name, token in tokens.items():
        try:
            results[name] = {"ok": True, "claims": verify(client, token, audience, issuer)}
        except jwt.PyJWTError as e:
            results[name] = {"ok": False, "error": type(e).__name__, "message": str(e)}
    json.dump({"pyjwt": jwt.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
