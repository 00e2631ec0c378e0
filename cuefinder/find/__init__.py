"""Finding tracks in a catalog: by genres (and music tags), by free text, by sound.

Named `find` because `cuefinder.search` is the Python API's search function.

``grammar`` reads the query language (genre words and synonyms, weights, exclusions,
plain-English modifiers); ``text`` reads free text into the same terms with sentence
embeddings; ``rank`` ranks a catalog for a query and says why each track matched;
``similar`` finds tracks that sound like a catalog track or an outside clip.
"""
