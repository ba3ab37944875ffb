"""A loopback Swagger Petstore (OpenAPI 3.0, `specs/petstore3.json`).

In-memory pets, orders and users answering the paths of the real document the
way the reference server does: JSON entities, plain-text errors from the
controllers ("Pet not found", 404), `{"code", "message"}` for input that fails
validation (400). It exists to prove the OpenAPI connector against a real,
third-party document rather than one written to suit it.

With `api_key` set, the operations the document secures (everything under /pet
and /store/inventory) need that key in the `api_key` header, or a bearer token
from `tokens`; orders and users are open, as in the document. Every request's
method, path and auth-relevant headers are kept in `state.requests` so tests can
see what the connector sent. Faults come from `connectors.simulator_base`.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from connectors.simulator_base import Faults, SimulatorAuth, relative_path, simulator_app

PET_STATUSES = ("available", "pending", "sold")
ORDER_STATUSES = ("placed", "approved", "delivered")
SECURED_PREFIXES = ("/pet", "/store/inventory")

# (id, name, category id, category, status, tags)
PETS: list[tuple[int, str, int, str, str, list[str]]] = [
    (1, "Biscuit", 1, "Dogs", "available", ["puppy", "house-trained"]),
    (2, "Juniper", 2, "Cats", "available", ["indoor"]),
    (3, "Pepper", 1, "Dogs", "pending", ["senior"]),
    (4, "Mochi", 3, "Rabbits", "available", ["dwarf"]),
    (5, "Captain", 1, "Dogs", "sold", ["large"]),
    (6, "Saffron", 2, "Cats", "sold", ["indoor", "long-hair"]),
    (7, "Nemo", 4, "Fish", "available", ["freshwater"]),
    (8, "Olive", 2, "Cats", "pending", ["kitten"]),
    (9, "Hazel", 3, "Rabbits", "available", []),
    (10, "Bruno", 1, "Dogs", "available", ["puppy"]),
]

# (username, first, last, email, phone)
USERS: list[tuple[str, str, str, str, str]] = [
    ("user1", "Dana", "Whitfield", "dana.whitfield@example.com", "555-0101"),
    ("theUser", "Sam", "Okafor", "sam.okafor@example.com", "555-0102"),
    ("rpatel", "Raj", "Patel", "raj.patel@example.org", "555-0103"),
]


class PetstoreState:
    """Pets, orders and users by id, plus a log of the requests received."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None):
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.pets: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=500)
        self._next_pet = 1000

    def seed(self) -> None:
        now = self._clock()
        with self._lock:
            for pid, name, cid, category, status, tags in PETS:
                self.pets[pid] = {
                    "id": pid,
                    "name": name,
                    "category": {"id": cid, "name": category},
                    "photoUrls": [f"https://images.example/pets/{pid}.jpg"],
                    "tags": [{"id": 100 + i, "name": t} for i, t in enumerate(tags)],
                    "status": status,
                }
            for oid, pet_id, qty, days, status, complete in [
                (1, 5, 1, 20, "delivered", True),
                (2, 6, 1, 12, "delivered", True),
                (3, 3, 1, 2, "approved", False),
                (4, 8, 1, 1, "placed", False),
                (5, 7, 2, 0, "placed", False),
            ]:
                ship = (now + timedelta(days=3 - days)).replace(microsecond=0)
                self.orders[oid] = {
                    "id": oid,
                    "petId": pet_id,
                    "quantity": qty,
                    "shipDate": ship.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
                    "status": status,
                    "complete": complete,
                }
            for n, (username, first, last, email, phone) in enumerate(USERS, start=1):
                self.users[username] = {
                    "id": n,
                    "username": username,
                    "firstName": first,
                    "lastName": last,
                    "email": email,
                    "password": "XXXXXXXXXXX",
                    "phone": phone,
                    "userStatus": 1,
                }

    def new_pet_id(self) -> int:
        with self._lock:
            while self._next_pet in self.pets:
                self._next_pet += 1
            return self._next_pet

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pets": len(self.pets),
                "orders": len(self.orders),
                "users": len(self.users),
                "requests": list(self.requests)[-50:],
            }


class PetstoreError(Exception):
    def __init__(self, status: int, message: str, *, json_body: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.json_body = json_body

    def response(self) -> Response:
        if self.json_body:
            return JSONResponse({"code": self.status, "message": self.message}, status_code=self.status)
        return PlainTextResponse(self.message, status_code=self.status)


def _invalid(message: str) -> PetstoreError:
    return PetstoreError(400, f"Input error: {message}", json_body=True)


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _invalid(f"couldn't convert `{value}` to type `class java.lang.Long` for {what}") from None


async def _json_object(request: Request, what: str) -> Any:
    try:
        body = await request.json()
    except ValueError:
        raise _invalid(f"unable to parse JSON body for {what}") from None
    return body


def _check_pet(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PetstoreError(400, "No Pet provided. Try again?")
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise _invalid("name is required")
    if not isinstance(body.get("photoUrls"), list):
        raise _invalid("photoUrls is required")
    if body.get("status") is not None and body["status"] not in PET_STATUSES:
        raise _invalid(f"status must be one of {', '.join(PET_STATUSES)}")
    pet = {
        "id": body.get("id"),
        "name": body["name"],
        "category": body.get("category"),
        "photoUrls": [str(u) for u in body["photoUrls"]],
        "tags": body.get("tags") or [],
        "status": body.get("status"),
    }
    return {k: v for k, v in pet.items() if v is not None}


def _values(request: Request, name: str) -> list[str]:
    """Repeated (`?tags=a&tags=b`) and comma-separated (`?tags=a,b`) both count."""
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


def petstore_error_body(status: int) -> dict[str, Any]:
    messages = {401: "Unauthorized", 429: "Too many requests", 503: "Service unavailable"}
    return {"code": status, "message": messages.get(status, f"Server error {status}")}


async def _record_and_secure(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    path = relative_path(request)
    state: PetstoreState = request.app.state.petstore
    api_key, accepted_tokens = request.app.state.api_key, request.app.state.tokens
    if path in ("/_faults", "/_state"):
        return await call_next(request)
    headers = request.headers
    with state._lock:
        state.requests.append(
            {
                "method": request.method,
                "path": path,
                "query": str(request.url.query),
                "api_key": headers.get("api_key"),
                "authorization": headers.get("authorization"),
                "idempotency_key": headers.get("idempotency-key"),
                "content_type": headers.get("content-type"),
            }
        )
    if (api_key or accepted_tokens) and path.startswith(SECURED_PREFIXES):
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        key_ok = api_key is not None and headers.get("api_key") == api_key
        token_ok = scheme.lower() == "bearer" and token.strip() in accepted_tokens
        if not (key_ok or token_ok):
            return JSONResponse(
                {"code": 401, "message": "Unauthorized: missing or invalid api_key"}, status_code=401
            )
    return await call_next(request)


async def _petstore_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, PetstoreError)
    return exc.response()


pets_router = APIRouter()
store_router = APIRouter()
users_router = APIRouter()

# pets


@pets_router.post("/pet")
async def add_pet(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    pet = _check_pet(await _json_object(request, "Pet"))
    with state._lock:
        if not isinstance(pet.get("id"), int) or pet["id"] <= 0:
            pet["id"] = state.new_pet_id()
        state.pets[pet["id"]] = pet
        return copy.deepcopy(pet)


@pets_router.put("/pet")
async def update_pet(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    pet = _check_pet(await _json_object(request, "Pet"))
    if not isinstance(pet.get("id"), int):
        raise _invalid("id is required to update a pet")
    with state._lock:
        if pet["id"] not in state.pets:
            raise PetstoreError(404, "Pet not found")
        state.pets[pet["id"]] = pet
        return copy.deepcopy(pet)


@pets_router.get("/pet/findByStatus")
async def find_by_status(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    statuses = _values(request, "status") or ["available"]
    bad = [s for s in statuses if s not in PET_STATUSES]
    if bad:
        raise _invalid(f"status `{bad[0]}` is not one of {', '.join(PET_STATUSES)}")
    with state._lock:
        return [copy.deepcopy(p) for p in state.pets.values() if p.get("status") in statuses]


@pets_router.get("/pet/findByTags")
async def find_by_tags(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    tags = set(_values(request, "tags"))
    if not tags:
        raise PetstoreError(400, "No tags provided. Try again?")
    with state._lock:
        return [
            copy.deepcopy(p) for p in state.pets.values() if tags & {t.get("name") for t in p.get("tags", [])}
        ]


@pets_router.get("/pet/{pet_id}")
async def get_pet(pet_id: str, request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    pid = _int(pet_id, "petId")
    with state._lock:
        pet = state.pets.get(pid)
        if pet is None:
            raise PetstoreError(404, "Pet not found")
        return copy.deepcopy(pet)


@pets_router.post("/pet/{pet_id}")
async def update_pet_with_form(request: Request, pet_id: str) -> Any:
    state: PetstoreState = request.app.state.petstore
    pid = _int(pet_id, "petId")
    name = request.query_params.get("name")
    status = request.query_params.get("status")
    if name is None:
        raise PetstoreError(400, "No Name provided. Try again?")
    with state._lock:
        pet = state.pets.get(pid)
        if pet is None:
            raise PetstoreError(404, "Pet not found")
        pet["name"] = name
        if status is not None:
            pet["status"] = status
        return copy.deepcopy(pet)


@pets_router.delete("/pet/{pet_id}")
async def delete_pet(pet_id: str, request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    pid = _int(pet_id, "petId")
    with state._lock:
        state.pets.pop(pid, None)
    return PlainTextResponse("Pet deleted")


@pets_router.post("/pet/{pet_id}/uploadImage")
async def upload_image(request: Request, pet_id: str) -> Any:
    state: PetstoreState = request.app.state.petstore
    pid = _int(pet_id, "petId")
    data = await request.body()
    if not data:
        raise PetstoreError(400, "No file uploaded")
    with state._lock:
        pet = state.pets.get(pid)
        if pet is None:
            raise PetstoreError(404, "Pet not found")
        pet.setdefault("photoUrls", []).append(f"/tmp/inflector-upload-{pid}-{len(data)}.tmp")
        return copy.deepcopy(pet)


# store


@store_router.get("/store/inventory")
async def inventory(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    counts: dict[str, int] = {}
    with state._lock:
        for pet in state.pets.values():
            status = pet.get("status") or "unknown"
            counts[status] = counts.get(status, 0) + 1
    return counts


@store_router.post("/store/order")
async def place_order(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    body = await _json_object(request, "Order")
    if not isinstance(body, dict):
        raise PetstoreError(400, "No Order provided. Try again?")
    if body.get("status") is not None and body["status"] not in ORDER_STATUSES:
        raise _invalid(f"status must be one of {', '.join(ORDER_STATUSES)}")
    with state._lock:
        oid = body.get("id")
        if not isinstance(oid, int) or oid <= 0:
            oid = max(state.orders, default=10) + 1
        order = {
            "id": oid,
            "petId": body.get("petId"),
            "quantity": body.get("quantity", 1),
            "shipDate": body.get("shipDate"),
            "status": body.get("status") or "placed",
            "complete": bool(body.get("complete", False)),
        }
        state.orders[oid] = {k: v for k, v in order.items() if v is not None}
        return copy.deepcopy(state.orders[oid])


@store_router.get("/store/order/{order_id}")
async def get_order(order_id: str, request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    oid = _int(order_id, "orderId")
    with state._lock:
        order = state.orders.get(oid)
        if order is None:
            raise PetstoreError(404, "Order not found")
        return copy.deepcopy(order)


@store_router.delete("/store/order/{order_id}")
async def delete_order(order_id: str, request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    oid = _int(order_id, "orderId")
    with state._lock:
        if state.orders.pop(oid, None) is None:
            raise PetstoreError(404, "Order not found")
    return PlainTextResponse("")


# users


def _user(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not body["username"]:
        raise _invalid("username is required")
    return {
        k: v
        for k, v in body.items()
        if k in {"id", "username", "firstName", "lastName", "email", "password", "phone", "userStatus"}
    }


@users_router.post("/user")
async def create_user(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    user = _user(await _json_object(request, "User"))
    with state._lock:
        state.users[user["username"]] = user
    return user


@users_router.post("/user/createWithList")
async def create_users(request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    body = await _json_object(request, "User list")
    if not isinstance(body, list) or not body:
        raise _invalid("a non-empty list of users is required")
    users = [_user(u) for u in body]
    with state._lock:
        for user in users:
            state.users[user["username"]] = user
    return users[-1]


@users_router.get("/user/login")
async def login(request: Request) -> Any:
    username = request.query_params.get("username")
    if not username:
        raise PetstoreError(400, "Invalid username/password supplied")
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%a %b %d %H:%M:%S UTC %Y")
    return JSONResponse(
        f"Logged in user session: {abs(hash(username)) % 10**19}",
        headers={"X-Rate-Limit": "5000", "X-Expires-After": expires},
    )


@users_router.get("/user/logout")
async def logout(request: Request) -> Any:
    return PlainTextResponse("User logged out")


@users_router.get("/user/{username}")
async def get_user(username: str, request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    with state._lock:
        user = state.users.get(username)
        if user is None:
            raise PetstoreError(404, "User not found")
        return copy.deepcopy(user)


@users_router.put("/user/{username}")
async def update_user(request: Request, username: str) -> Any:
    state: PetstoreState = request.app.state.petstore
    user = _user(await _json_object(request, "User"))
    with state._lock:
        if username not in state.users:
            raise PetstoreError(404, "User not found")
        state.users.pop(username)
        state.users[user["username"]] = user
    return PlainTextResponse("")


@users_router.delete("/user/{username}")
async def delete_user(username: str, request: Request) -> Any:
    state: PetstoreState = request.app.state.petstore
    with state._lock:
        if state.users.pop(username, None) is None:
            raise PetstoreError(404, "User not found")
    return PlainTextResponse("")


def create_app(
    state: PetstoreState | None = None,
    *,
    seed: bool = True,
    api_key: str | None = None,
    tokens: Iterable[str] = (),
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> FastAPI:
    """A Petstore-shaped ASGI app. `api_key`/`tokens` turn on the document's security
    for /pet and /store/inventory; with neither, every request is let in."""
    state = state if state is not None else PetstoreState()
    if seed and not state.pets:
        state.seed()
    faults = faults or Faults()
    app = simulator_app(
        "Swagger Petstore simulator (OpenAPI 3.0)",
        state_name="petstore",
        state=state,
        faults=faults,
        auth=SimulatorAuth(),
        error_body=petstore_error_body,
        sleep=sleep,
        openapi_url=None,
    )
    app.state.api_key, app.state.tokens = api_key, frozenset(tokens)
    app.middleware("http")(_record_and_secure)
    app.add_exception_handler(PetstoreError, _petstore_error)
    for router in (pets_router, store_router, users_router):
        app.include_router(router)
    return app
