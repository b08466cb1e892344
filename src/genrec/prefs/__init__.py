"""Preference statements: short text about what a user likes, dislikes or avoids at one step.

``steps`` says which steps of a user's history get statements, a generator (``attributes``;
``llm`` and ``openai``, which share ``prompt``; a registry by name in ``generators``) writes
them from the items before each step, ``polarity`` labels text a generator could not, and
``store`` keeps them beside the dataset, resumable and checked against the dataset's
fingerprint. A selection protocol (``protocols``, a registry by name; ``selection`` holds their
shared vocabulary) says which of a step's statements a model is handed. May import
``genrec.data`` and ``genrec.text`` only.
"""
