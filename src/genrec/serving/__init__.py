"""The HTTP service: a thin FastAPI layer over a finished run's Recommender, with micro-batched
decoding, Prometheus metrics and a static web page (`genrec serve`). Needs ``genrec[serve]``;
nothing else in genrec imports this stage."""
