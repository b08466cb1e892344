"""Reader for MovieLens ``.dat`` files (ML-1M; ML-10M uses the same layout).

- ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp`` (seconds).
- ``movies.dat``: ``MovieID::Title::Genres``, genres ``|``-separated; published in latin-1,
  hence the default ``encoding``.
- ``users.dat`` (optional) is not read: the Dataset has no user features.

Either file may be gzipped. ``title`` keeps the published form with the year, e.g.
``Toy Story (1995)``, because that is how MovieLens names a film (titles alone repeat); the
year is also put in ``attributes`` as ``{"year": 1995}`` for filters. Users are indexed in
order of first appearance in ``ratings.dat``, items in ``movies.dat`` order.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from genrec.data.dataset import Dataset
from genrec.data.sources.rawfiles import (
    check_known,
    check_unique,
    clean_text,
    parse_number,
    read_lines,
    require_file,
    require_values,
    split_fields,
)

RATING_LINE = "`UserID::MovieID::Rating::Timestamp`"
MOVIE_LINE = "`MovieID::Title::Genres`"


def read_movielens(
    path: str | Path,
    *,
    ratings: str | Path | None = None,
    movies: str | Path | None = None,
    encoding: str = "latin-1",
    name: str | None = None,
) -> Dataset:
    """Read a MovieLens ``.dat`` folder; explicit file paths override the files found in it."""
    folder = Path(path)
    hint = "pass the MovieLens folder (e.g. ml-1m) or ratings=/movies= explicitly."
    ratings_path = Path(ratings or require_file(folder, "ratings.dat", hint=hint))
    movies_path = Path(movies or require_file(folder, "movies.dat", hint=hint))

    interactions = _read_ratings(ratings_path, encoding)
    items = _read_movies(movies_path, encoding)
    check_known(interactions, "item_id", items["item_id"], ratings_path, movies_path)
    return Dataset.from_frames(
        name or folder.resolve().name,
        interactions.drop("line"),
        items.drop("line"),
        source={"reader": "movielens", "files": [str(ratings_path), str(movies_path)]},
    )


def _read_ratings(path: Path, encoding: str) -> pl.DataFrame:
    """``[line, user_id, item_id, rating, timestamp]`` in file order."""
    names = ["user_id", "item_id", "rating", "timestamp"]
    frame = split_fields(read_lines(path, RATING_LINE, encoding), path, "::", names, RATING_LINE)
    frame = frame.with_columns(clean_text("user_id", "item_id"))
    require_values(frame, ["user_id", "item_id", "rating", "timestamp"], path)
    return frame.with_columns(
        parse_number(frame, "rating", pl.Float32(), path).alias("rating"),
        parse_number(frame, "timestamp", pl.Int64(), path).alias("timestamp"),
    )


def _read_movies(path: Path, encoding: str) -> pl.DataFrame:
    """``[line, item_id, title, categories, year]``."""
    names = ["item_id", "title", "genres"]
    frame = split_fields(read_lines(path, MOVIE_LINE, encoding), path, "::", names, MOVIE_LINE)
    frame = frame.with_columns(clean_text(*names))
    require_values(frame, ["item_id"], path)
    check_unique(frame, "item_id", path, "movie")
    return frame.select(
        "line",
        "item_id",
        "title",
        pl.col("genres")
        .str.split("|")
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("categories"),
        pl.col("title").str.extract(r"\((\d{4})\)$").cast(pl.Int32).alias("year"),
    )
