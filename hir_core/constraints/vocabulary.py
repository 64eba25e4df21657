"""Word lists the constraint types draw their sampled arguments from.

Written for this project: everyday nouns that fit most writing tasks, so that a
sampled "include the word X" constraint is satisfiable without derailing the task.
"""

from __future__ import annotations

_KEYWORD_BLOCK = """
    account advice afternoon airport animal answer apple area argument art article artist
    autumn balance bank basket beach bicycle bird birthday blanket boat book bottle bread
    bridge brother budget building business butter cabin camera candle capital career carpet
    castle chair challenge chance change chapter cheese chicken child church city classroom
    climate clock cloud coast coffee college comfort community company computer concert
    corner cotton council country courage cousin craft culture customer dance daughter
    decision desert design dinner direction discovery doctor dream driver energy engine
    evening example experience factory family farmer feather festival field film flower
    forest freedom friend future garden glass government guitar habit harbor harvest health
    history holiday honey hospital hotel house idea island journey judge kitchen knowledge
    ladder lake language lantern lesson letter library light lunch machine market meadow
    memory message method minute mirror moment money morning mountain museum music nature
    neighbor network newspaper night notebook ocean office orange orchard painting paper
    parent party passenger pattern pencil people pepper picture planet plant pocket poem
    police pottery practice problem project promise puzzle question rabbit railway reason
    recipe river road rocket routine safety salary school science season secret shadow ship
    shoe signal silence silver skill sky snow soldier song space spring station stone storm
    story street student summer sunrise surface system table teacher team thunder ticket
    time tomato tower town tradition traffic train travel treasure tree trip truck umbrella
    valley village violin voice volcano wallet water weather window winter wisdom wood
    worker world writer yard year
"""
KEYWORDS: tuple[str, ...] = tuple(_KEYWORD_BLOCK.split())

# ISO 639-1 codes (as langdetect reports them) and the names a prompt uses.
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan",
    "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kn": "Kannada",
    "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam",
    "mr": "Marathi", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian", "pa": "Punjabi",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "so": "Somali", "sq": "Albanian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh-cn": "Simplified Chinese",
    "zh-tw": "Traditional Chinese",
}  # fmt: skip

# Languages sampled for synthetic prompts: widely written ones that langdetect separates well
# (no Norwegian/Danish or Croatian/Slovenian pairs, whose short texts it confuses).
SAMPLED_LANGUAGES: tuple[str, ...] = (
    "ar", "bn", "de", "es", "fa", "fi", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt", "ru",
    "sv", "sw", "th", "tr", "uk", "vi",
)  # fmt: skip

END_PHRASES: tuple[str, ...] = (
    "Let me know if you have any other questions.",
    "Thank you for reading.",
    "That is all for now.",
    "Hope this helps!",
    "What do you think?",
    "Is there anything else you would like to know?",
    "See you next time.",
    "Have a wonderful day.",
)

SECTION_MARKERS: tuple[str, ...] = ("Section", "SECTION", "Part", "PART", "Chapter")
