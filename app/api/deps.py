"""Request-scoped dependencies: the container, the caller, their role.

They are `async def`: FastAPI runs a plain `def` dependency on a worker thread, and a
hop per dependency per request costs more than what these do. The one that may read
the store (a caller the edge did not already know) does so on a thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request

from app.api.reads import signed_in
from app.main import Container
from app.services.auth import Principal


async def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


async def principal(request: Request, c: Container = Depends(container)) -> Principal:
    known = getattr(request.state, "principal", None)  # authenticated at the edge (app/api/edge.py)
    if isinstance(known, Principal):
        return known
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.cookies.get("sb_token", "")
        if not token:
            raise HTTPException(
                401,
                "missing bearer token: send 'Authorization: Bearer TOKEN'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    who = await signed_in(c, request.app.state.reads, token.strip())
    if who is None:
        raise HTTPException(401, "unknown, revoked or expired token", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = who
    return who


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    async def check(who: Principal = Depends(principal)) -> Principal:
        if not who.can(role):
            raise HTTPException(403, f"this needs the {role} role; {who.name} has {who.role}")
        return who

    return check
