"""The names of musicnn's pretrained tags, without torch (the catalog and the query
language read them; ``musicnn`` runs the networks).

``SOUNDS`` is the tagger indexing runs on a few excerpts of every track for the default
model (``descriptors.sound_tags``): MagnaTagATune's 50 tags name instruments (piano,
strings, drums, guitar, violin, flute, harp, choir, synth ...), voices (vocal, female,
male, no vocals) and moods and tempi (slow, fast, soft, loud, quiet, ambient).
"""

# musicnn/configuration.py, in the order of the networks' outputs
TAGS: dict[str, tuple[str, ...]] = {
    "MSD_musicnn": (
        "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance",
        "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout",
        "male vocalists", "classic rock", "soul", "indie rock", "Mellow", "electronica",
        "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues",
        "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar",
        "Hip-Hop", "70s", "party", "country", "easy listening", "sexy", "catchy", "funk",
        "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad",
        "House", "happy",
    ),
    "MTT_musicnn": (
        "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
        "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
        "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
        "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
        "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
        "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
        "choral",
    ),
}  # fmt: skip

SOUNDS = "MTT_musicnn"
# everyday words for a tag, as a query may use them (the tag's own name always works)
TAG_SYNONYMS: dict[str, tuple[str, ...]] = {
    "no vocals": ("instrumental", "without vocals", "no singing"),
    "vocals": ("sung", "singer", "with vocals"),
    "choir": ("choral voices",),
    "strings": ("string section", "orchestral strings"),
    "drums": ("percussion",),
}
