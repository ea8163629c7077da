"""The example resource: `POST /items` and `GET /items`, stored in PostgreSQL, listed from Redis.

Without a database (DATABASE_HOST unset) the routes stay registered and answer 503 with a message
saying so: clients and probes get a clear answer instead of a 404 that looks like a wrong URL.
Without a cache (REDIS_HOST unset) every list is read from the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.cache import Cache
from app.db import Item

LIST_KEY = "items:list"
LIST_TTL_SECONDS = 30
LIST_LIMIT = 100

router = APIRouter(prefix="/items", tags=["items"])


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime


def engine(request: Request) -> Engine:
    db: Engine | None = request.app.state.engine
    if db is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="No database is configured for this api (DATABASE_HOST is not set).",
        )
    return db


def cache(request: Request) -> Cache | None:
    return request.app.state.cache


DbEngine = Annotated[Engine, Depends(engine)]
OptionalCache = Annotated[Cache | None, Depends(cache)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ItemOut)
def create_item(payload: ItemIn, db: DbEngine, cache: OptionalCache) -> Item:
    with Session(db, expire_on_commit=False) as session:
        item = Item(name=payload.name)
        session.add(item)
        session.commit()
        session.refresh(item)  # created_at comes from the database
    if cache is not None:
        cache.invalidate(LIST_KEY)
    return item


@router.get("", response_model=list[ItemOut])
def list_items(db: DbEngine, cache: OptionalCache) -> list[dict]:
    """The newest items first (at most 100)."""
    if cache is not None:
        cached = cache.get_json(LIST_KEY)
        if cached is not None:
            return cached
    with Session(db) as session:
        rows = session.scalars(
            select(Item).order_by(Item.created_at.desc(), Item.id.desc()).limit(LIST_LIMIT)
        )
        items = [ItemOut.model_validate(row).model_dump(mode="json") for row in rows]
    if cache is not None:
        cache.set_json(LIST_KEY, items, ttl=LIST_TTL_SECONDS)
    return items
