"""Where scores live: Parquet files per bucket (compacted per day) and the herd DB's lineage.

``files``: the file layout and the one rule of which stored score counts; ``lineage``: one row
per run x shard x use case x model role; ``writer``: a run's scores written once per bucket;
``store``: the read side every consumer uses; ``legacy``: moving an earlier ``predictions``
table in.
"""

from smx_assets.domain.score_store.files import ScoreFiles
from smx_assets.domain.score_store.store import DEFAULT_LINEAGE, FULL_LINEAGE, ScoreStore

__all__ = ["DEFAULT_LINEAGE", "FULL_LINEAGE", "ScoreFiles", "ScoreStore"]
