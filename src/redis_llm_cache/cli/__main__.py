"""``python -m redis_llm_cache.cli``: the same as the ``redis-llm-cache`` command."""

import sys

from . import main

sys.exit(main())
