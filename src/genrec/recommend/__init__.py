"""Recommend: the adapters that make a network a ``Recommender`` (``generative`` beam search,
an LLM reading statements as text (``prompted``), ``reasoning``, ``ensemble``, ``cold_items``,
``avoid``; and ``statement_only``, the baseline that reads nothing but the statements), each
reporting its ``capabilities``. ``genrec.decoding`` below only decodes;
``genrec.families`` picks the adapter for a family's model. Import the modules themselves:
this package imports nothing, so loading one adapter does not load the others."""
