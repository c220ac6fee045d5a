"""Which exceptions mean "Redis could not serve this request".

Kept in one place so the fail-open policy and ``BackendError`` mapping agree.
"""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError

#: redis-py's own tree covers connection, timeout, OOM and other server replies;
#: ``OSError`` and the asyncio timeout cover what can escape below it.
BACKEND_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError, asyncio.TimeoutError)
