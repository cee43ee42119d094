"""The cue vocabularies of reading/context.py: carers' words for a child being back, still out
or missing, and the modifiers around them (negation, intention, reported speech, history, the
writer's own movements).

Kept apart from the logic that applies them so that a new wording is one line here and the
rules stay readable. Pure: compiled regular expressions only.
"""

from __future__ import annotations

import re

_W = r"(?:\w+\s+)"  # one word, for gaps
_PRON = r"(?:he|she|they|him|her|them|(?-i:[A-Z][\w'-]+))"

RETURN_CUES = re.compile(
    r"\b(?:"
    r"(?:has|have|had)\s+(?:now\s+|just\s+|finally\s+)?(?:returned|come\s+(?:back|home|in)|"
    r"turned\s+up|been\s+(?:found|located|traced|returned|brought\s+(?:back|home)))|"
    r"(?:is|are|was|were|'s|'re)\s+(?:now\s+|finally\s+|safely\s+)?(?:back|home\s+(?:safe|now)|"
    r"home\s*(?:[,.!]|$)|found|located|traced|safe\s+and\s+well\s+(?:at|in)\s+home)|"
    r"(?:now|finally|safely)\s+(?:back|home)|back\s+(?:home|safe|in\s+(?:placement|the\s+house|"
    r"(?:his|her|their)\s+room|bed)|at\s+(?:placement|the\s+home|home))|home\s+safe|"
    r"returned(?:\s+(?:home|safe|safely|to\s+\w+|at|around|about|this|last|just|earlier|late|"
    r"by\s+(?:the\s+)?police))?|"
    # "come back home" only after its subject: "she's come back safe", "he come back home";
    # "Dana, come back home now" and "please come back home" ask for a return
    r"came\s+(?:back|home|in\b)|(?:(?:she|he|they|(?-i:[A-Z][\w'-]+))\s+|'s\s+|'ve\s+)"
    r"come\s+back\s+(?:home|safe)|walked\s+(?:back\s+)?in|"
    # dialect past with the bare verb, said of a child with a time: "Jazz come back in about
    # ten to eleven last neet", "she come home at 2"
    r"(?:(?-i:[A-Z][\w'-]+)|she|he|they)\s+come\s+(?:back|home|in)\b(?:\s+in\b)?(?=\s+(?:at|"
    r"about|around|aboot|just|last|this|yesterday|today|now|\d|half|hauf|quarter|ten|twenty|five|"
    r"midnight)\b)|"
    # ESOL present for past: "Jolene come home now, 00.10. Police bring her"
    r"(?:police|officers)\s+bring\s+(?:him|her|them)\b(?!\s+(?:to\s+(?:the\s+)?(?:station|custody)))|"
    # a driver's account: "he dropped him off at Willowmere Lodge at 00:35"
    r"dropped\s+(?:him|her|them)\s+off\s+at\s+(?-i:[A-Z])[\w'-]+\s+(?-i:[A-Z])[\w'-]+|"
    # (not "got in a silver car with 2 older lads")
    # "let himself in with his key" (a phone's "nathaniel home 3.10 this morning")
    r"let\s+(?:himself|herself|themselves|themself)\s+in\b|"
    r"turned\s+up|rolled\s+in|got\s+(?:back|home|in\b(?!\s+(?:a|an|some|someone's|into|with|"
    r"(?:the|his|her|their)\s+(?:car|van|taxi|cab|motor|vehicle|bus)s?)\b))|arrived\s+(?:back|home)|"
    # (not "staff found the back gate open", "we found out")
    r"(?:police|officers|staff|we|i|\w+'s\s+\w+|(?:his|her|their)\s+\w+)\s+(?:have\s+|has\s+)?"
    r"(?:found(?!\s+(?:the|a|an|his|their|out|nothing|no|that|this|some)\b)|located|picked\s+(?:him|her|them)\s+up|brought\s+(?:him|her|them)\s+(?:back|home|in)|"
    r"dropped\s+(?:him|her|them)\s+(?:back|home|off)|returned\s+(?:him|her|them))|"
    r"(?:dropped|brought)\s+(?-i:[A-Z][\w'-]+)\s+(?:off|back|home)\b|"
    r"(?:rocked|showed|turned)\s+up\s+(?:back\s+)?(?:at|home|here)\b|"
    r"found\s+(?:safe|safe\s+and\s+well|at\s+(?:\w+'s|\w+\s+\w+'s|a\s+friend|the))|"
    r"located\s+(?:safe|at)|brought\s+(?:back|home)|dropped\s+(?:back|home)|"
    # the subject left out, as on a phone: "Found her at the station and brought her home"
    r"brought\s+(?:him|her|them)\s+(?:back|home)\b|"
    # "Officers took her back to her lodgings", "walked back with her", "my sister picked her
    # up" (not "took her back to the station")
    r"(?:took|taken|drove|driven|walked|escorted|accompanied|ran|gave)\s+(?:him|her|them)\s+"
    r"(?:a\s+lift\s+)?(?:back|home)\b(?!\s+to\s+(?:the\s+)?(?:police\s+)?(?:station|custody|cells?|"
    r"hospital|a\s*&\s*e|a\s+and\s+e)\b)|"
    r"walked\s+(?:back|home)\s+with\s+(?:her|him|them|me|us|staff)\b(?!\s+(?:towards|into|"
    r"to\s+(?!(?:the\s+)?(?:house|home|here|us|placement)\b)))|"
    r"(?:she|he|they)\s+(?:was|were)\s+(?:back|home)\s+(?:at|by|for|about|around)\s+(?=\d|about|"
    r"around|half|quarter|ten|twenty|five|midnight)|"
    r"(?:my|our)\s+(?:\w+\s+)?(?:sister|brother|husband|wife|partner|son|daughter|mum|mam|dad|"
    r"colleague|manager)\s+(?:has\s+|had\s+)?(?:picked\s+(?:him|her|them)\s+up|collected\s+(?:him|"
    r"her|them)|fetched\s+(?:him|her|them))|"
    r"dropped\s+(?:him|her|them)\s+(?:back|home)|conveyed\s+(?:back|home)|"
    # "Tiernan rang the doorbell at ten past 1" (not "Police knocked on the door")
    r"(?:\b(?:he|she|they)|(?-i:\b(?!(?:Police|Officers?|Staff|Someone|Somebody|Nobody|Mum|Dad|"
    r"The|They|We|I)\b)[A-Z][a-z][\w'-]+))\s+"
    r"(?:rang|rung|knocked\s+(?:on|at)|banged\s+on|buzzed)\s+(?:the\s+)?(?:front\s+)?"
    r"(?:door\s*bell|bell|door|buzzer|intercom)\b|"
    # phone-typed, the name in lower case: "police brought fin home at 20 past 12"
    r"(?:police|officers|the\s+police)\s+(?:have\s+|has\s+)?(?:brought|dropped)\s+[\w'-]+\s+"
    r"(?:back|home)\b|"
    # "The polis picked him up ... and had him hame by half ten"
    r"had\s+(?:him|her|them)\s+(?:back\s+)?(?:home|hame|back)\s+(?:by|at|for|about|around)\b|"
    # "I collected Kayla from her mother and we are home since 12.40"
    r"(?:collected|picked\s+up|fetched)\s+(?:him|her|them|(?-i:[A-Z][\w'-]+))\b[^.!?\n]{0,60}?\b"
    r"(?:we|i)(?:'re|\s+are|'m|\s+am|\s+were|\s+got)\s+(?:now\s+|back\s+)?(?:home|back)\b|"
    # "Police dropped him at the door at 03:35"
    r"dropped\s+(?:him|her|them)\s+(?:off\s+)?at\s+(?:the|our)\s+(?:front\s+)?door\b|"
    r"arriv(?:ed|ing)\s+(?:back\s+|home\s+)?(?:at\s+)?\d|"
    # (not "a safe and well check will be completed on return": the police's procedure)
    r"safe\s+(?:and|&|n)\s+well(?!\s+(?:check|visit|interview|conversation|chat)s?\s+(?:will|would|"
    r"should|is\s+to|are\s+to|to\s+be|once|on\s+(?:her|his|their)?\s*return)\b)|"
    r"safe\s+and\s+sound|no\s+longer\s+missing|"
    r"(?:she|he|they)'?(?:s|re)\s+back|"
    # "both back now", "all three back safe" (not "both back in bed")
    r"(?:both|all\s+(?:three|four|of\s+them))\s+(?:are\s+|now\s+|safely\s+)?(?:back|home)\b"
    r"(?!\s+(?:in|to)\s+bed|\s+(?:at|to|in)\s+(?:school|college|work|class|nursery))|"
    r"(?:'s|is|are|'re)\s+(?:just\s+)?after\s+(?:coming|getting|walking)\s+(?:back|home|in)|"
    # "He's in." (said of a child who was out), "came through the door at 10 past 11"
    r"(?:(?:she|he|they)(?:'s|'re|\s+is|\s+are)|shes|hes|theyre)\s+in(?=\s*(?:[.!,]|$|now\b|"
    r"safe\b))|"
    r"c(?:a|o)me\s+(?:in\s+(?:through\s+|at\s+)?|through\s+|to\s+)the\s+(?:front\s+|back\s+)?door|"
    # a phone's telegraph: "Rhys home 5.20", "Cal back 00:15", "KJ in 11pm"
    r"(?-i:[A-Z][\w'-]+)\s+(?:home|back|in)\s+(?:about\s+|around\s+|approx\.?\s+)?"
    r"\d{1,2}(?:[.:]\d\d\b|\s*(?:am|pm)\b)|"
    # ESOL "Oliwia is come back to the home"
    r"(?:is|has)\s+come\s+back\b|"
    # "Cal back at 00:15", "back around half 11": a clock time (intention words before it,
    # "due back at 9", "will be back at 10", are modifiers and take it back)
    r"(?<!\bthe\s)(?<!\bout\s)back\s+(?:at|about|around|approx\.?|just\s+(?:before|after))\s+"
    r"(?:\d|half\b|quarter\b|ten\b|twenty\b|five\b|midnight\b)|"
    # phone shorthand with a clock time and nothing between: "harv back 10.40 all good"
    r"(?<!\bthe\s)(?<!\bout\s)back\s+(?:\d{1,2}[.:]\d\d|[01]\d[0-5]\d|2[0-3][0-5]\d)\b"
    r")",
    re.IGNORECASE,
)

# still out now: these outweigh a return elsewhere for the same child
STILL_CUES = re.compile(
    r"\b(?:still\s+(?:missing|out|not\s+(?:back|home|returned|in)|away|awol|gone)|"
    r"remain(?:s|ed)?\s+(?:missing|out|awol|unaccounted)|still\s+unaccounted|"
    r"still\s+(?:not|isn't|isnt|is\s+not|aren't|are\s+not)\s+(?:answering|responding|replying|"
    r"picking\s+up|contactable)|"
    # text-speak and "she's not in": "shes not bk", "school rang to say she's not in"
    r"(?:shes|hes|theyre|'s|'re)\s+not\s+(?:back|bk|bck|home|in)\b|not\s+b(?:a?c)?k\b|"
    r"(?:neither|none)\s+(?:of\s+them\s+)?(?:has|have|had)\s+(?:yet\s+)?(?:returned|come|been)|"
    # gone again after a return: "came back for his charger and left again", "went out again"
    r"(?:left|went\s+(?:out|off)|gone\s+(?:out|off)|took\s+off|ran\s+(?:off|away|out)|"
    r"run\s+(?:off|away)|walked\s+out|climbed\s+out|absconded|disappeared)\s+again|"
    r"(?:went|gone|headed|snuck|slipped)\s+(?:straight\s+|right\s+)?back\s+out\b|"
    # (not "she refused to go to A&E")
    r"refus(?:es|ed|ing)\s+to\s+(?:(?:come|go|be\s+brought)\s+(?:home|back|in)\b|return\b|come\b(?!\s+to\b))|"
    r"(?:won't|wont|will\s+not|wouldn't|would\s+not)\s+(?:come|return|go)\s+(?:home|back)|"
    # the child's own word from wherever they are: "She won't say where she is"
    r"(?:won't|wont|will\s+not|wouldn't|would\s+not|refuses\s+to|refused\s+to)\s+(?:say|tell\s+(?:us|me|"
    r"anyone))\s+where\s+(?:she|he|they)\s+(?:is|are)\b|"
    # "she is not coming home tonight", "says she isn't coming back" (not a visit agreed)
    r"(?:(?:is|are|'s|'re)\s+not|isn't|isnt|aren't|arent|not)\s+coming\s+(?:back|home)\b"
    r"(?!\s+(?:to|for|in\s+to|into)\s+(?:school|college|work|lessons?|class|the\s+(?:meeting|"
    r"appointment)))(?![^.!?\n]{0,60}\b(?:as\s+agreed|agreed|arranged|planned|with\s+permission|approved|"
    r"respite|contact\s+visit|holiday|trip|for\s+(?:tea|dinner|lunch))\b)|"
    r"not\s+been\s+slept\s+in|"
    # "Tre did not sleep in the house last night"
    r"did(?:\s+not|n't|nt)\s+sleep\s+(?:in|at)\s+(?:the\s+house|home|the\s+home|placement|"
    r"(?:his|her|their)\s+(?:own\s+)?(?:bed|room|house|flat))|"
    # "she's not come home" ('s = has), "he's not been seen"
    r"(?:'s|'ve)\s+not\s+(?:yet\s+)?(?:returned|come\s+(?:back|home|in)|been\s+(?:seen|found|back)|"
    r"got\s+(?:back|home)|turned\s+up)|"
    # no one has seen or heard from the child: "we have not seen or spoken to her"
    r"(?:have|has|had)\s*(?:not|n't)\s+(?:seen|heard\s+from|spoken\s+to)\s+(?:or\s+\w+\s+"
    r"(?:to|from)?\s*)?(?:him|her|them|(?-i:[A-Z])[\w'-]+(?=\s+(?:ourselves|myself|yet|since|at\s+all)\b))\b|(?<![\w'])gone\s+(?:again|awol)\b|"
    # "We haven't seen Demi or spoken to her ourselves"
    r"(?:have|has|had)\s*(?:not|n't)\s+seen\s+(?-i:[A-Z])[\w'-]+\s+or\s+(?:spoken\s+to|heard\s+from)\s+"
    r"(?:him|her|them)\b|"
    r"(?:has|have)\s*(?:not|n't)\s+(?:yet\s+)?(?:returned|come\s+(?:back|home|in)|been\s+(?:seen|found|"
    r"returned)|"
    r"got\s+(?:back|home)|turned\s+up)|hasnt\s+(?:returned|come)|"
    r"(?:is|are|was|were)\s*(?:not|n't)\s+(?:yet\s+)?(?:back|home|in\b|returned)|isnt\s+(?:back|home)|"
    r"(?:isn't|isnt|is\s+not|aren't|are\s+not|not)\s+here\s+yet|"
    r"not\s+(?:back|home|in)\s+(?:yet|since)|not\s+yet\s+(?:back|home|returned|in\b)|"
    # "and not come back", ESOL "she is not come to home"
    r"(?<![\w'])not\s+(?:yet\s+)?(?:come|came)\s+(?:to\s+)?(?:back|home|in\b)|"
    # nothing heard from the child: "still nothing from Lily", "no word from him"
    r"still\s+(?:nothing|no\s+(?:word|news|contact|sign))\b|"
    r"(?:nothing|no\s+(?:word|news|contact))\s+(?:yet\s+)?(?:from|of)\s+" + _PRON + r"|"
    r"not\s+heard\s+(?:anything\s+)?from\s+" + _PRON + r"|heard\s+nothing\s+from\s+" + _PRON + r"|"
    r"(?<!\bif\s)(?<!\bhas\s)(?<!\bis\s)\bnot\s+(?:returned|back|home)\b|out\s+all\s+night|"
    r"not\s+(?:been\s+)?seen\s+(?:\w+\s+)?since|(?:he|she|they)\s+(?:was|were|had)\s+gone\b(?!\s+(?:up\s+)?(?:to\s+)?(?:bed|sleep|upstairs|"
    r"(?:to\s+)?(?:her|his|their)\s+room))|"
    r"(?:had|has|have)\s+gone\s+(?:out\s+)?(?:missing|awol|again|off)|"
    r"no\s+sign\s+of|never\s+(?:came|come|got|returned|arrived|did)|"
    r"did(?:\s+not|n't)\s+(?:come|return|get\s+(?:back|home|in)|turn\s+up)|"
    r"didnt\s+(?:come|return)|"
    r"failed\s+to\s+(?:return|come)|missing\s+(?:again|still)|(?:is|are)\s+(?:currently\s+)?missing|"
    r"gone\s+missing|has\s+gone\s+(?:again|awol|off)|whereabouts\s+(?:are\s+|is\s+)?unknown|"
    r"(?:has|have|had)\s+(?:absconded|run\s+(?:away|off)|gone\s+out\s+and\s+not)|"
    r"can(?:'t|not)\s+(?:find|locate|reach|contact)|"
    # "... walk towards the main gate, which is the last time anyone has seen her"
    r"(?:which|that)\s+is\s+the\s+last\s+time\s+(?:anyone|anybody|we|staff|i)\s+(?:has|have)\s+"
    r"seen\s+(?:him|her|them)\b|"
    # "we don't actually know where he is or who with"
    r"(?:don't|dont|do\s+not|doesn't|does\s+not)\s+(?:actually\s+|really\s+)?know\s+where\s+"
    r"(?:he|she|they)\s+(?:is|are)\b(?!\s+(?:going|planning|staying|spending|off\s+to)\b)|"
    r"not\s+(?:in\s+)?(?:(?:his|her|their)\s+)?(?:room|bed)|bed\s+(?:was\s+|is\s+)?empty"
    r")",
    re.IGNORECASE,
)

# a report of a child gone, weaker than "still": "was missing" in a return is history
MISSING_CUES = re.compile(
    # "Absconsion during transfer", "took herself off again", "lost sight of him at 14:12"
    r"\b(?:abscon(?:sion|ding|dment)|(?:took|taken|take)\s+(?:herself|himself|themselves)\s+off|"
    r"lost\s+sight\s+of\s+(?:him|her|them|(?-i:[A-Z])[\w'-]+)|"
    # "I reported her to GMP at 23:40", "On the 23:30 check her room was empty"
    r"reported\s+(?:him|her|them|(?-i:[A-Z])[\w'-]+)\s+(?:as\s+)?(?:missing\s+)?to\s+(?:the\s+)?"
    r"(?:police|101|999|(?-i:[A-Z]{2,5})\b|[\w-]+\s+(?:police|constabulary))|"
    r"(?:room|bed)\s+(?:was|is)\s+empty|"
    r"missing|absconded|awol|a\.w\.o\.l|absent\s+without|ran\s+(?:away|off)|run\s+(?:away|off)|"
    r"runaway|left\s+(?:without\s+permission|the\s+(?:house|home|building|placement|unit))|"
    r"left\s+(?:the\s+)?(?:school\s+)?(?:site|premises|grounds)\b|"
    r"(?:gone|went|go)\s+out\s+without\s+(?:permission|asking|telling\s+(?:anyone|anybody|us|me))|"
    r"went\s+out\s+and\s+(?:has|did)|unauthorised\s+absence|unauthorized\s+absence|"
    r"absent\s+from\s+placement|away\s+from\s+placement|"
    r"(?:not|isn't|isnt|aren't|is\s+not|are\s+not)\s+(?:answering|picking\s+up)|"
    # "says lacey went off with some lads in a car"
    r"went\s+off\s+with\s+(?:some|a|an|two|three|four|a\s+group|older|(?-i:[A-Z])[\w'-]+)\b|"
    # a school's "please let us know as soon as she is found": the child is out now
    r"(?:let|tell|inform)\s+(?:us|me)\s+(?:know\s+)?(?:as\s+soon\s+as|once|when)\s+(?:she|he|"
    r"they|(?-i:[A-Z])[\w'-]+)\s+(?:is|are|has\s+been|have\s+been|'s)\s+(?:found|located|traced)\b|"
    r"(?:went|gone|got|climbed|jumped|snuck|sneaked)\s+out\s+(?:of\s+)?(?:his|her|their|the)\s+"
    r"(?:bedroom\s+|bathroom\s+)?window|"
    # "the window was wide open and they have gone out over the flat roof"
    r"(?:gone|went|got|climbed|jumped|snuck|sneaked)\s+out\s+(?:over|across|onto|through|via)\s+"
    r"(?:the\s+)?(?:\w+\s+)?(?:roof|fence|wall|gate|window)|"
    # past intention: "was due back at 9", "was meant to be home by 10" (a curfew passed)
    r"(?:was|were)\s+(?:due|meant|supposed|expected)\s+(?:to\s+(?:be|come|get)\s+)?"
    r"(?:back|home|in)|"
    # "Kayden was last seen leaving at 8.15", "last seen about 9 at the chippy"
    r"(?:was|were)\s+last\s+seen|last\s+seen\s+(?=(?:at|about|around|by|on|in|leaving|walking|"
    r"heading|getting|near|outside|\d)\b))\b",
    re.IGNORECASE,
)

# the writer is not sure: "might be back", "may have come in", "could have returned"
UNSURE_RETURN = re.compile(
    r"\b(?:might|may|could|probably|possibly|maybe)\s+(?:well\s+)?(?:be\s+(?:back|home|in\b)|"
    r"have\s+(?:come\s+(?:back|home|in)|returned|got\s+(?:back|home|in)|been\s+back))|"
    # heard, not seen: "I think I heard him come in around 3 but his door's locked"
    r"\bmust\s+have\s+(?:come|got|gotten|been|snuck|sneaked)\s+(?:in|back|home)|"
    r"\b(?:i\s+think|i\s+believe|i\s+reckon|pretty\s+sure|i'm\s+not\s+sure\s+but)\s+"
    r"(?:(?:[\w'-]+\s+){0,2}(?:is|has|are|have)\s+|[\w-]+(?:'s|'ve|'re)\s+|(?:[\w'-]+\s+){0,2}"
    r"(?:is|'s|has|are)\s+)(?:now\s+)?(?:back|home|in\b|(?:come|got|gotten)\s+(?:back|home|in)\b)|"
    r"\bheard\s+(?:him|her|them|someone|the\s+(?:front\s+|back\s+)?door|(?-i:[A-Z][\w'-]+))\s+"
    r"(?:come|came|coming|get|got|getting|let\s+(?:himself|herself|themselves))\s*(?:in|back|home)?|"
    # somebody's guess at a sighting: "she thinks she saw Kenzie go in our front door"
    r"\b(?:thinks?|thought|reckons?|believes?)\s+(?:\w+\s+){0,2}(?:saw|seen|spotted)\s+"
    r"(?:him|her|them|(?-i:[A-Z][\w'-]+))\s+(?:come|came|go|went|get|got|walk|walked|let)\s+"
    r"(?:in|back|home|into|through|up)",
    re.IGNORECASE,
)

# the writer's doubt is in the words themselves: "I can't say he's back for definite"
DOUBTED_RETURN = re.compile(
    # "As of sending this I have NOT had confirmation that he is back at Fernlea"
    r"\b(?:no|not\s+(?:yet\s+)?(?:had|got|received|been\s+given)|n't\s+(?:yet\s+)?(?:had|got|"
    r"received|been\s+given)|without|awaiting|await|waiting\s+(?:for|on)|yet\s+to\s+(?:have|get|"
    r"receive|hear))\s+(?:any\s+)?(?:\w+\s+)?confirmation\b[^.!?\n]{0,50}?\b(?:back|home|"
    r"returned|come\s+in|came\s+in)\b|"
    r"\b(?:not|n't)\s+(?:yet\s+)?(?:been\s+)?confirmed\s+(?:yet\s+)?(?:that\s+|whether\s+|if\s+)"
    r"[^.!?\n]{0,40}?\b(?:back|home|returned)\b|"
    # "I cannae say for sure it's him that's come in"
    r"\b(?:can'?t|cannot|cannae|canna|couldn'?t)\s+(?:say|be\s+sure|tell|confirm)\b[^.!?\n]{0,40}?"
    r"\b(?:back|home|come\s+in|came\s+in)\b|"
    r"\b(?:can'?t|cannot|can\s+not|couldn'?t)\s+(?:say|be\s+sure|tell|confirm|swear)\s+"
    r"(?:for\s+(?:sure|certain|definite)\s+)?(?:if\s+|whether\s+|that\s+)?(?:[\w-]+\s*)"
    r"(?:'s|is|has|'ve|have)\s+(?:definitely\s+|actually\s+)?(?:back|home|in\b|come|returned)",
    re.IGNORECASE,
)

# found, but not back at the placement yet: "she's staying at mine tonight and I'll bring her back
# in the morning", "police have got him at the station, I'm collecting him"
NOT_BACK_YET = re.compile(
    # out and not coming back: "she says she is not going back to her foster carers", "He is
    # refusing to go with them" (police who have found him)
    r"\b(?:(?:is|'s|are|'re)\s+not\s+going\s+(?:back|home)\s+to\s+(?:her|his|their|the)\s+"
    r"(?:foster\s+)?(?:carers?|placement|home|unit|house|foster\s+(?:home|family|mum|dad|parents))\b|"
    r"(?:is|'s|are|'re)\s+(?:still\s+)?refusing\s+to\s+(?:go|come|leave)\s+with\s+(?:them|the\s+"
    r"officers|officers|police|staff|us)\b|"
    # a nan's "he is not going back" and "he can stop on my settee tonight"; a hospital's "is
    # being kept for observation", "not medically fit for discharge"
    # (bare, at the clause's end: not "she is not going back to her mum's this weekend")
    r"(?:is|'s|are|'re)\s+not\s+going\s+back(?=\s*(?:[.,;!]|$|\s(?:there|tonight|ever|again|and|"
    r"because)\b))|"
    r"(?:stop|stay|sleep|kip)\s+(?:on|at|in)\s+(?:my|our)\s+(?:settee|sofa|couch|floor|house|flat|"
    r"place|spare\s+room)\s+(?:tonight|overnight)|"
    r"(?:being\s+)?kept\s+(?:in\s+)?(?:for|under)\s+observation|not\s+(?:yet\s+)?(?:medically\s+)?fit\s+"
    r"(?:for\s+discharge|to\s+(?:leave|go\s+home|be\s+discharged)))|"
    r"\b(?:(?:i'll|ill|i\s+will|we'll|we\s+will|they'll|they\s+will|police\s+will|she'll|he'll|"
    r"she\s+will|he\s+will|(?:i'm|i\s+am|we're|"
    r"we\s+are)\s+going\s+to)\s+(?:bring|take|drop|run|fetch|collect|get)\s+(?:him|her|them)"
    # (not "I'll collect her things from camp tomorrow")
    r"(?!\s+(?:things|stuff|bags?|belongings|clothes|phone|case|suitcase|kit|medication)\b)\s*"
    # (not "I'll take her in to school for 2nd lesson": she is home)
    r"(?:back|home)?(?!\s*(?:in\s*)?to\s+(?:school|college|work|lessons?|the\s+(?:doctor|gp|dentist)))|(?:staying|stopping|sleeping|stays|stopping\s+over)\s+(?:at\s+(?:mine|ours|"
    r"theirs|\w+'s)|with\s+(?:me|us|\w+))\s+(?:tonight|overnight|till|until|for\s+the\s+night)|"
    r"(?:i'm|i\s+am|we're|we\s+are)\s+(?:on\s+(?:my|our)\s+way\s+to\s+)?(?:collect(?:ing)?|"
    r"pick(?:ing)?\s+(?:him|her|them)\s+up|fetch(?:ing)?|getting)\s+(?:him|her|them)?|"
    # "they're keeping her at the station until I get there", "should have her home by midnight"
    r"(?:keeping|holding|have\s+got|got)\s+(?:him|her|them)\s+at\s+(?:the\s+)?(?:police\s+)?"
    r"station|should\s+have\s+(?:him|her|them)\s+(?:home|back)|until\s+(?:i|we)\s+get\s+there|"
    r"(?:setting\s+off|on\s+(?:my|our)\s+way)\s+(?:now\s+)?to\s+(?:get|collect|fetch|pick)|"
    # "two of us are driving over now to collect her", "she is at the police station there"
    r"(?:driving|going|heading|travelling|coming|nipping|popping)\s+(?:over\s+|down\s+|up\s+|out\s+|"
    r"round\s+|across\s+)?(?:now\s+)?"
    # (to fetch the child, not "said he was just going to get chips")
    r"to\s+(?:get|collect|fetch|pick)\b(?!\s+(?:chips|food|some|a|an|his\s+(?:things|stuff|phone|bag)|"
    r"her\s+(?:things|stuff|phone|bag)|the\s+(?:bus|train|shopping))\b)|(?:she|he|they)\s*(?:is|are|'s|'re)\s+(?:still\s+|currently\s+|"
    r"now\s+)?(?:at|in)\s+(?:the\s+|a\s+)?(?:(?-i:[A-Z][\w'-]+)\s+)?(?:police\s+station|station|"
    r"custody|hospital|a\s*&\s*e)\b|"
    # "awaiting collection", "on their way to collect her", "dropped him at the station in
    # Carlisle", "getting the train back", "given a lift to the railway station"
    r"await(?:ing)?\s+collection|waiting\s+to\s+be\s+(?:collected|picked\s+up)|"
    # "Police have her", "they are bringing her back to Ashgrove"
    r"(?:police|officers|they)\s+(?:have|'ve\s+got|have\s+got)\s+(?:him|her|them)\b(?!\s+(?:back|home))|"
    r"(?:are|is|'re|'s|theyre|theyr)\s+(?:now\s+)?bringing\s+(?:him|her|them)\s+(?:back|home)|"
    r"on\s+(?:their|our|my)\s+way\s+to\s+(?:collect|get|fetch|pick)|"
    r"(?:dropped|left|given\s+a\s+lift\s+to|took)\s+(?:(?:him|her|them)\s+)?(?:at|to)\s+the\s+"
    r"(?:railway\s+|train\s+|bus\s+|coach\s+)?station|getting\s+(?:the|a)\s+(?:train|bus|coach)\s+"
    r"(?:back|home)|"
    r"on\s+(?:her|his|their)\s+way\s+(?:back|home)|"
    # a return still to come: "will be conveyed back to Calder View by our officers, ETA 17:30"
    r"(?:will|'ll|is\s+going\s+to|are\s+going\s+to)\s+be\s+(?:conveyed|taken|brought|driven|returned|"
    r"dropped|transported|escorted)\s+(?:back|home)\b|"
    # back, but with a parent or a relative and staying there: "shes keeping him there today",
    # "officers have returned her home to mum. Mum is happy for her to stay there tonight",
    # "paige is home now with me ... she doesnt want to go back to that foster placement"
    r"(?:keeping|keep|kept)\s+(?:him|her|them)\s+(?:there|at\s+(?:hers|his|theirs|[\w-]+'s)|with\s+"
    r"(?:her|him|them))|happy\s+for\s+(?:him|her|them)\s+to\s+(?:stay|stop)|"
    r"(?:doesn't|doesnt|does\s+not|won't|wont|will\s+not|refus\w*\s+to|don't|dont)\s+(?:want\s+to\s+)?"
    r"go(?:ing)?\s+back\s+to\s+(?:th(?:at|e)|her|his|their)\s+(?:\w+\s+)?(?:foster|placement|home|"
    r"carers?|unit|house)|"
    r"(?:returned|took|taken|brought|dropped)\s+(?:him|her|them)\s+(?:home\s+)?to\s+(?:his\s+|her\s+|"
    r"their\s+)?(?:mum|mam|mom|mother|dad|father|nan|nana|gran|grandma|grandad|aunt|auntie|uncle)\b|"
    # found by the police but held, or waiting to be fetched: "has been arrested ... and is
    # currently in custody", "brought to Wolverhampton police station and is waiting in the front
    # office for care home staff to collect her", "will not be returning to Larkrise House until"
    r"(?:has|had|have)\s+been\s+arrested|(?:was|were|got)\s+arrested|"
    r"(?:is|are|remains?|'s|'re)\s+(?:still\s+|currently\s+|now\s+)?(?:in\s+(?:police\s+)?custody|"
    r"under\s+arrest)|"
    r"(?:brought|taken|conveyed)\s+to\s+(?:the\s+|a\s+)?(?:(?-i:[A-Z][\w'-]+)\s+)?police\s+station|"
    r"waiting\s+(?:[\w']+\s+){0,8}?for\s+(?:[\w']+\s+){0,4}?to\s+(?:collect|fetch|pick\s+up)\s+"
    r"(?:him|her|them)\b|"
    r"(?:will\s+not|won't|wont)\s+be\s+returning\s+to\s+\w[^.!?\n]{0,40}?\buntil\b|"
    # the police found the child and left them there: "The police went round to her boyfriend's
    # flat and she was there, they spoke to her. She has told them she isn't coming back today"
    r"(?:police|officers|they)\s+(?:have\s+|had\s+)?(?:spoke|spoken)\s+(?:to|with)\s+(?:him|her|them)\b|"
    # an officer's own words: "I attended an address in Tankerton and spoke with Oliwia"
    r"(?:attended|went\s+to)\s+[^.!?\n]{0,60}?\band\s+(?:spoke|spoken)\s+(?:to|with)\s+(?:him|her|them|"
    r"(?-i:[A-Z][\w'-]+))\b|"
    # "As she is 16 ... she has been left at that address", "does not want to return to Canterbury
    # tonight", "He is saying he does not want to go back there"
    r"(?:has\s+been|was|been)\s+left\s+at\s+(?:that|the|this|her|his|their)\s+(?:address|house|flat)\b|"
    r"(?:doesn't|doesnt|does\s+not|won't|wont|will\s+not|don't|dont)\s+want\s+to\s+(?:return|go\s+back|"
    r"come\s+back)\s+(?:there\b|(?:to\s+[\w' -]{1,30}?\s+)?(?:tonight|today)\b)|"
    # "Jerome told officers that Rhys is staying at their aunt's flat"
    r"(?:told\s+(?:officers|police|us|me|staff)|says|said|saying|claims?|claimed)\s+(?:that\s+)?"
    r"[\w'-]+\s+(?:is|'s)\s+staying\s+(?:at|with)\s+(?:his|her|their|a|an|the)\s+(?:[\w']+\s+){0,2}?"
    r"(?:aunt|auntie|aunty|uncle|nan|nana|gran|grandma|grandmother|grandad|grandfather|mum|mother|"
    r"dad|father|cousin|sister|brother|friend|mate|boyfriend|girlfriend)(?:'s|s)?\b|"
    # "Rahmat is with us at the BTP office at Victoria while arrangements are made", "Minh is
    # currently with officers", "sending a worker to collect him and bring him back"
    # ("she's with us now" from a carer is home: "us" only at a police office or station)
    r"(?:is|are|'s|'re)\s+(?:currently\s+|still\s+|now\s+)?with\s+(?:(?:(?-i:[A-Z]{2,5})\s+)?officers|police|the\s+police|"
    r"(?:my|our)\s+(?:officers|colleagues)|us\s+(?:at|in)\s+(?:the\s+)?(?:[\w-]+\s+){0,2}(?:office|station|"
    r"custody))\b|while\s+arrangements\s+are\s+(?:being\s+)?made|"
    # "arrangements are being made to convey him back to his foster carers"
    r"arrangements\s+are\s+(?:being\s+)?made\s+to\s+(?:convey|bring|take|return|collect|drive)\b|"
    r"to\s+collect\s+(?:him|her|them)\s+and\s+(?:bring|take|drive)\s+(?:him|her|them)\s+(?:back|home)|"
    # turned up somewhere else and staying: "hes turned up at mine this afternoon ... hes staying
    # here tonight"; in the police's hands on the way: "He is being conveyed back to the home
    # address by officers"; at school, not home: "Harley arrived at Breydon Academy at 12:30"
    # (not "at ours", "at our door": a carer's own home is the placement)
    r"turned\s+up\s+(?:at|on)\s+(?:mine|hers|his|theirs|(?:her|his|their)\s+(?:house|flat|door|"
    r"doorstep)|[\w-]+'s)|staying\s+(?:here|there)\s+(?:tonight|overnight|till|until)\b|"
    r"(?:is|are)\s+(?:now\s+)?being\s+(?:conveyed|taken|brought|driven|returned|escorted|transported)\s+"
    r"(?:back|home)\b|"
    r"arrived\s+(?:at|in)\s+(?:school|college|(?-i:[A-Z][\w'-]+)\s+(?-i:Academy|School|College|High))\b|"
    # a relative or a friend's parent keeping the child: "she would keep Morwenna for the night and
    # bring her home to us this morning", "Cerys remains at her mother's address at this time"
    r"(?:would|will|'ll|'d|is\s+going\s+to|are\s+going\s+to)\s+keep\s+(?:him|her|them|"
    r"(?-i:[A-Z][\w'-]+))\s+(?:for\s+the\s+night|overnight|tonight|there|until|till)\b|"
    r"(?:would|'d)\s+bring\s+(?:him|her|them)\s+(?:home|back)\b|"
    r"remains?\s+at\s+(?:her|his|their)\s+(?:mother|mum|mam|father|dad|nan|gran|grandmother|"
    r"grandad|grandfather|aunt|auntie|uncle|sister|brother|cousin|friend|boyfriend|girlfriend)"
    r"(?:'s)?\b|"
    # someone's word of where the child is, which the writer cannot check: "someone saying he is
    # Jaydon's cousin texted: 'jays with me at glasto' ... we can't confirm that this is true"
    r"(?:can't|cannot|can\s+not|unable\s+to|couldn't|could\s+not|(?:have\s+not|haven't|not)\s+been\s+"
    r"able\s+to)\s+confirm\s+(?:that\s+)?(?:this|it|that|any\s+of\s+this)(?:\s+is\s+(?:true|right|"
    r"correct))?\b)",
    re.IGNORECASE,
)

# a return cue that tells only a find ("Officers have located Reuben", "was found"), not the child
# back at the placement: a find does not outweigh "he is currently with officers" told before it
FIND_ONLY = re.compile(r"^(?!(?:my|our)\b)(?!.*\b(?:back|home|brought|dropped|returned|in)\b)"
                       r".*\b(?:found|located|"
                       r"traced|picked\s+\w+\s+up)\b", re.IGNORECASE)

# -- modifiers -----------------------------------------------------------------------------------

# in the few words before a cue: negation
NEGATION_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bno|\bnor|\bwithout|\bhasnt|\bisnt|\bdidnt|\bwasnt|\bnobody|"
    r"\bno\s+one|\bneither)\s+(?:[\w']+\s+){0,3}$",
    re.IGNORECASE,
)
# intention, condition, expectation, a question, a wish: about a return that has not happened
HYPOTHETICAL_BEFORE = re.compile(
    r"(?:\bdue|\bmeant|\bsupposed|\bexpected|\bexpect|\bshould|\bwould|\b\w+'d|\bwill|\b\w+'ll|"
    r"\bgoing\s+to|\bgonna|\bif|\bwhen|\bonce|\buntil|\btill|\btil|\bunless|\bhope|\bhoping|"
    r"\bpromised|\bagreed|\bplanned|\bplans|\bwants?|\bwanted|\basked|\bwaiting\s+for|"
    r"\bwait\s+for|\bcould|\bmight|\bmay|\bin\s+case|\bpray|\bto\s+be|\bwhether|"
    # "I will let you know the moment he is home"
    r"\bthe\s+(?:moment|minute|second|instant)|\bas\s+soon\s+as|"
    # "to" before a plan ("to come home by 10"), not before the writer's own report: "we write
    # to confirm that Tayla returned", "to let you know he came in at 9"
    r"\bto(?!\s+(?:confirm|inform|advise|notify|update|report|say|tell|let\s+(?:you|\w+)\s+know)\b)|"
    r"\bask(?:ed)?\s+(?:him|her|them)\s+to|\bmake\s+sure|\bensure|"
    # a request to the child: "Dana, come back home now", "come home please"
    r"(?:^|[,:;!]\s*)(?:please\s+)?come)\s+(?:[\w']+\s+){0,4}$",
    re.IGNORECASE,
)
# someone else's words: "her friend said she's back", "told her sister she was coming back"
REPORTED_BEFORE = re.compile(
    r"\b(?:said|says|saying|told|tells|reckons?|thinks?|thought|claims?|claimed|claiming|"
    r"stat(?:es|ed|ing)|alleg(?:es|ed|ing)|insists?|insisted|insisting|"
    r"apparently|heard|rumour|believes?|believed|"
    r"(?:texted|messaged)\s+(?:to\s+)?say|"
    # a text or a message from someone (a call is how a carer tells an agency: not second-hand)
    r"(?:texted|messaged)\s+(?:me|us)\s+(?:to\s+)?(?:say|tell)|"
    r"let\s+(?:me|us)\s+know|"
    # "We received a notification from the school that she was back at her mum's"
    r"(?:notification|notified|informed|word)\s+(?:(?:from|by)\s+[\w' -]{1,30}?\s+)?that)\b"
    r"[^.!?\n]{0,60}$",
    re.IGNORECASE,
)
# someone other than the writer got in touch to say it: "her friend's mum has messaged to say"
THIRD_PARTY = re.compile(
    r"\b(?!i\b|we\b|just\b)\w+(?:'s\s+\w+)?\s+(?:has\s+|have\s+|had\s+)?(?:messaged|texted|rang|"
    r"phoned|called|emailed|rung)\s+(?:\w+\s+)?to\s+(?:say|tell|let)\b|"
    # family or friends passing it on: "Her mum rang the home at 7.45 this morning to say" (a
    # carer ringing an agency is the carer's own word: "Gary has just rung me to say")
    r"\b(?:mum|mam|mom|mother|dad|father|nan|nana|gran|granny|grandma|grandad|aunt|auntie|uncle|"
    r"friend|girlfriend|boyfriend|brother|sister|cousin|neighbour)(?:'s\s+\w+)?\s+(?:has\s+|had\s+)?"
    r"(?:just\s+)?(?:messaged|texted|rang|phoned|called|emailed|rung)\s+(?:[\w.:]+\s+){0,6}?to\s+"
    r"(?:say|tell|let)\b",
    re.IGNORECASE,
)
# the clause is about the past or about episodes in general, not this one
HISTORY = re.compile(
    # "last time" is history, but "last time we see her 3 oclock" is the last sighting
    r"\b(?:(?<=found\s)before\b|(?<=located\s)before\b|(?<!day\s)last\s+(?:month|year|week|time(?!\s+(?:anyone|anybody|someone|we|i|staff|they)\s)|"
    r"spring|summer|autumn|winter|weekend)|"
    r"(?:this|that)\s+month|(?:in|since)\s+(?:the\s+)?(?:spring|summer|autumn|winter|"
    r"january|february|march|april|may|june|july|august|september|october|november|december)|"
    r"previous(?:ly)?|in\s+the\s+past|used\s+to|history\s+of|"
    r"twice|three\s+times|several\s+times|both\s+times|each\s+time|every\s+time|"
    r"\d+\s+times|no\s+episodes?|episodes?\s+(?:this|last)|times\s+(?:this|last)|"
    r"(?:\d+|one|two|three|four)\s+(?:missing\s+)?episodes?|return\s+interview\s+"
    r"(?:was\s+)?(?:done|completed|held|carried\s+out)|"
    r"on\s+the\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day|summary|missing\s+episodes|"
    r"since\s+the\s+last\s+(?:review|meeting|report)|raise\s+a\s+(?:concern|complaint)|"
    r"make\s+a\s+complaint|complain(?:t|ing|ed)?\b|"
    r"(?:days?|weeks?|months?|years?|fortnight)\s+ago\b|before\s+christmas|over\s+the\s+summer|"
    r"historic(?:al|ally)?)\b",
    re.IGNORECASE,
)
NEGATED_MISSING = re.compile(
    # "we treat that as \"late\" rather than missing"
    r"\b(?:rather\s+than|instead\s+of)\s+['\"\u201c]?(?:as\s+)?missing\b|"
    r"\b(?:not|never|no\s+longer|n't|nt)\s+(?:\w+\s+){0,3}(?:missing|run\s+(?:off|away)|"
    r"absconded|gone\s+missing|awol)|\bno\s+(?:missing\s+)?episodes?\b|\bnothing\s+to\s+report\b|"
    r"\b(?:no\s+one|nobody|none\s+of\s+them|no\s+young\s+(?:person|people))\s+(?:is|are)\s+"
    r"(?:currently\s+|now\s+)?(?:missing|out)\b",
    re.IGNORECASE,
)
QUESTION = re.compile(r"\?\s*$")


DAY_AHEAD = re.compile(r"\s*(?:next\s+\w+|at\s+the\s+weekend|(?:on\s+)?(?:mon|tues|wednes|thurs|"
                        r"fri|satur|sun)day|on\s+the\s+\d{1,2}(?:st|nd|rd|th)\b)", re.IGNORECASE)
# a simple past act ("the police dropped her off"), not "have dropped" (done by some time ahead)
PAST_ACT = re.compile(r"(?:(?!ha(?:ve|s|d)\b)\w+\s+)*?(?:dropped|brought|came|returned|walked|"
                       r"found|located|turned|rolled|arrived|got)\b", re.IGNORECASE)
# words before "when" that put it ahead: "I'll let you know when ...", "call me when ..."
AHEAD = re.compile(r"\b(?:will|\w+'ll|shall|going\s+to|gonna|let\s+\w+\s+know|tell\s+\w+|"
                    r"call\s+\w+|ring\s+\w+|text\s+\w+|email\s+\w+|contact\s+\w+|update\s+\w+|"
                    r"wait(?:ing)?|please)\b", re.IGNORECASE)
DONE = re.compile(r"(?:came|come|returned|got|arrived|walked|turned|rolled)\b", re.IGNORECASE)


# the writer passing it on, not someone else's word: "police told shes back", "101 updated"
WE_TOLD = re.compile(r"\b(?:police|officers|101|staff|i|we|i've|we've|have)\s+(?:been\s+|now\s+)?"
                      r"(?:told|informed|updated)\b[^.!?\n]{0,60}$", re.IGNORECASE)


# where a new subject and its verb start: "... and she is", "... but he has"
OWN_CLAUSE = re.compile(r"\b(?:and|but)\s+(?=(?:she|he|they|we|i)(?:\s*$|\s+(?:is|are|was|were|"
                         r"has|have|had|isn't|aren't|wasn't|hasn't|haven't|still|'s|'re)\b))",
                         re.IGNORECASE)


# a return cue that is a copula ("is back"), whose subject may be a thing, not the child
COPULA = re.compile(r"(?:is|are|was|were|'s|'re)\b", re.IGNORECASE)
THING_BEFORE = re.compile(
    r"(?:\b(?:his|her|their|my|our|the|a)|(?-i:[A-Z][\w-]*)'s)\s+(?!(?:young|child|lad|girl|boy|"
    r"kid|yp|son|daughter|grandson|granddaughter|foster)\b)[a-z]+\s*$", re.IGNORECASE)
# where a child comes in from on an ordinary day: not a return from missing
ROUTINE_AFTER = re.compile(r"\s*(?:home\s+|back\s+|in\s+)?from\s+(?:school|college|work|nursery|"
                            r"contact|football|training|practice|(?:his|her|their)\s+(?:job|"
                            r"shift))\b", re.IGNORECASE)
# "missing" in the name of a team, a course or a paper, not said of a child
MISSING_AS_NAME = re.compile(
    r"missing\s+(?:from\s+(?:care|home)\s+|children(?:'s)?\s+|child(?:'s)?\s+|persons?\s+|people\s+)?"
    r"(?:(?:and|&)\s+[\w-]+(?:\s+[\w-]+){0,4}\s+)?(?:team|service|unit|officer|co-?ordinator|inbox|"
    r"mailbox|address|hub|training|course|session|policy|protocol|procedure|summary|newsletter|"
    r"panel|meeting|return\s+form|notifications|paperwork)\b", re.IGNORECASE)
# "missing the oat milk", "missing her mum", "missing school": the verb, of a thing or a person
MISS_A_THING = re.compile(r"missing\s+(?:the|a|an|his|her|their|my|our|your|some|school|lessons?|"
                           r"class|college|work|breakfast|lunch|tea|dinner)\b", re.IGNORECASE)
# "rang me back", "texted us back", "get back to me": a call returned, not a child
CALLED_BEFORE = re.compile(r"\b(?:rang|rung|ring|rings|call(?:ed|s)?|phoned?|text(?:ed|s)?|"
                            r"messaged|wrote|emailed|got|get)\s+(?:me|us|him|her|them|you)\s*$|"
                            # "I have rung Bryony back at 00:40 - no change": a call to a carer
                            r"\b(?:rang|rung|call(?:ed)?|phoned|texted|messaged|emailed)\s+"
                            r"(?-i:[A-Z][\w'-]+)\s*$",
                            re.IGNORECASE)
# a planned outing the child came back from: "came back with staff at 11.45pm from the party"
OUTING_AFTER = re.compile(r"(?:[^.!?\n]|\.(?=\d)){0,40}?\bfrom\s+(?:the|a|an|their|his|her)\s+"
                           r"(?:[\w-]+\s+){0,2}(?:party|trip|outing|activity|event|cinema|match|holiday|visit|"
                           r"day\s+out|club|appointment|residential)\b", re.IGNORECASE)
# a coming back the writer could make: "got back", "came in", "arrived home", "walked in"
OWN_MOVE = re.compile(r"(?:got|came|arrived|walked|get)\b", re.IGNORECASE)
WITH_CHILD = re.compile(r"\s*(?:back\s+|home\s+|in\s+)?with\s+(?:him|her|them|(?-i:[A-Z]))",
                         re.IGNORECASE)
FETCHED = re.compile(r"\b(?:collected|fetched|picked\s+(?:him|her|them)\s+up|picked\s+up|brought|"
                      r"found|got)\s+(?:him|her|them|(?-i:[A-Z][\w'-]+))", re.IGNORECASE)
WRITER_JUST_BEFORE = re.compile(r"(?<!\band\s)\b(?:i|we)\s+(?:then\s+|just\s+|finally\s+|"
                                 r"eventually\s+|only\s+)?$", re.IGNORECASE)
WRITER_OUT = re.compile(r"(?:^|[,;:])\W*\b(?:i|we)(?:'ve|'d|\s+have|\s+had)?\s+(?:been|went|"
                         r"drove|walked|looked|searched|was|were)\b", re.IGNORECASE)
# another subject between the writer and the verb: a pronoun or a name (not a place or a day
# after a preposition: "we went to my sister's in Whitby on Tuesday and came back Thursday")
SOMEONE = re.compile(r"\b(?:he|she|they)\b|(?<!\bin\s)(?<!\bat\s)(?<!\bto\s)(?<!\bon\s)(?<!\bby\s)"
                      r"(?<!\bfrom\s)(?<!\bnear\s)(?-i:\b(?!I\b)[A-Z][\w'-]+)", re.IGNORECASE)

# a coming home as planned, said after the cue: "Jenson came home at 7 on his own, like he was
# supposed to" (a sibling who was never missing), "got back from contact as arranged"
AS_PLANNED_AFTER = re.compile(
    r"(?:[^.!?\n;]|\.(?=\d)){0,60}?\b(?:(?:like|as)\s+(?:he|she|they|\w+)\s+(?:was|were|is|are)\s+"
    r"(?:supposed|meant|told|asked|due)\s+to\b|as\s+(?:planned|arranged|agreed)\b)",
    re.IGNORECASE,
)
# words that put what follows in someone's mouth, however far before the opening quote:
# 'Brad told his key worker this afternoon that he is going to run off ... "and not come back"'
SPEECH_VERB = re.compile(
    r"\b(?:said|says|saying|told|tells|texted|messaged|shouted|screamed|threatened|wrote|"
    r"posted|announced|warned)\b", re.IGNORECASE)
# the writer sees the child home now: "Aye he's in his bed", "she's asleep upstairs"
SEEN_HOME = re.compile(
    # (not "she's asleep" alone: "her friend's mum says she's back at theirs, she's asleep")
    r"\b(?:he|she|they)(?:'s|'re|\s+is|\s+are)\s+(?:now\s+|safely\s+)?(?:in\s+(?:his|her|their)"
    r"\s+(?:own\s+)?(?:bed|room)|(?:asleep\s+)?upstairs\s+(?:in\s+(?:his|her|their\s+)?bed|asleep)|"
    r"here\s+(?:with\s+(?:me|us)|now))\b(?!\s+(?:at|round|over|in|with|on)\b)",
    re.IGNORECASE,
)

