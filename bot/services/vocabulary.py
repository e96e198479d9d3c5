"""The words the question engine knows: stop words, kinds, ordinals, list phrases and an English glossary.

All entries are folded (lowercase, umlauts spelled out), as `bot.text.fold` produces them.
"""

from __future__ import annotations

import re

# Words that carry no topic: articles, pronouns, question words, fillers and generic verbs, folded.
STOPWORDS = frozenset(
    """
    a ab aber alle alles also am an and any anything are as at auch auf aus bald be bei beim bin bis bitte
    bzw can da dabei dafuer damit dann das dass dem den denen der des dich die dies diese diesem diesen dieser
    dieses dir do does doch dort du durch ein eine einem einen einer eines einfach es etwas etwa euch for from
    fuer gibt geben gern gerne gehts gehabt gut habe haben hallo hast hat hello hey hi hier how i ich ihr ihre
    im in info infos information informationen interessiert ist is it ja je jemand jetzt kann kannst koennen
    koennte kommt kommende kommenden kommender kommendes laeuft lauft laufen liegt los mal man me mehr
    mein meine
    mich mir mit moechte moin nach nicht noch nur ob oder of on or please schon sein seine sich sie sind so
    soll some something statt stattfinden findet finden stehen steht tell than thanks that the there this to
    ueber um und uns unser unsere vom von vor war waere wann was we welche welchem welchen welcher welches
    wenn wer werden wie wieder will wird wo woche what when where which who will with would wuerde you your
    zu zum zur zwischen danke dank is are anything something happening happen planned geplant plant gemacht
    spricht sprechen redet reden speak speaks speaking talks talking give gives hold holds held there's thing
    veranstaltung veranstaltungen event events termin termine angebot angebote thema themen topic topics
    about regarding bezueglich betreffend bzgl zu zum rund runde around anstehend anstehende anstehenden
    upcoming coming soon demnaechst naechstens uhr time uhrzeit beginnt beginn start starts startet anfang
    begin begins wieviel viel zeit datum date day tag tage tagen tages am ort wo online dabei teilnehmen
    mitmachen zeig zeige zeigen show list liste alle all gib give nenne nennen sag sagen tell kannst koenntest
    wissen weisst know suche suchen looking finde interessiere interested bald soon irgendwas irgendetwas
    ansteht anstehen los viele vielen many much noch still kommen
    """.split()
)

GREETINGS = frozenset(
    "hallo hello hi hey moin servus gruezi guten tag morgen abend good morning evening".split()
)

KIND_WORDS: dict[str, str] = {
    "webtalk": "webtalk",
    "webtalks": "webtalk",
    "webinar": "webtalk",
    "webinare": "webtalk",
    "webinars": "webtalk",
    "talk": "webtalk",
    "talks": "webtalk",
    "onlinevortrag": "webtalk",
    "vortrag": "webtalk",
    "vortraege": "webtalk",
    "roundtable": "roundtable",
    "roundtables": "roundtable",
    "rundertisch": "roundtable",
    "rundentisch": "roundtable",
    "rundetisch": "roundtable",
    "roundtabel": "roundtable",
    "seminar": "seminar",
    "seminare": "seminar",
    "seminaren": "seminar",
    "seminars": "seminar",
    "schulung": "seminar",
    "schulungen": "seminar",
    "training": "seminar",
    "workshop": "workshop",
    "workshops": "workshop",
    "projektauftakt": "kickoff",
    "auftakt": "kickoff",
    "auftaktveranstaltung": "kickoff",
    "kickoff": "kickoff",
    "kickoffs": "kickoff",
    "projektstart": "kickoff",
    "launch": "kickoff",
}
KIND_CANONICAL = ("webtalk", "roundtable", "seminar", "workshop", "projektauftakt", "kickoff")
JOINED = [
    (re.compile(r"\bweb[\s-]+talks?\b"), "webtalk"),
    (re.compile(r"\bround[\s-]+tables?\b"), "roundtable"),
    (re.compile(r"\brunde[nrs]?\s+tisch(?:e|en)?\b"), "rundertisch"),
    (re.compile(r"\bkick[\s-]+offs?\b"), "kickoff"),
    (re.compile(r"\bweb[\s-]+seminars?\b"), "webinar"),
]

NEXT_WORDS = frozenset(
    "naechste naechster naechsten naechstes nachste nachsten naechte next erste ersten first kommende".split()
)
SECOND_WORDS = frozenset(
    "uebernaechste uebernaechster uebernaechsten uebernaechstes ubernachste "
    "ubernachsten zweite zweiten second".split()
)
TIME_WORDS = frozenset("wann when uhrzeit beginnt beginn startet start starts anfang time".split())
REGISTER_WORDS = frozenset(
    "anmelden anmeldung anmelde registrieren registrierung register registration "
    "signup teilnahme teilnehmen anmeldeformular".split()
)
HOWTO_WORDS = frozenset("wie how kann can where wo".split())
LIST_WORDS = frozenset(
    "veranstaltung veranstaltungen event events termine termin angebote programm "
    "schedule calendar kalender".split()
)
# English topic words members use for the network's German vocabulary.
GLOSSARY: dict[str, tuple[str, ...]] = {
    "vacancy": ("leerstand",),
    "vacancies": ("leerstand",),
    "vacant": ("leerstand",),
    "empty": ("leerstand",),
    "digitalisation": ("digitalisierung",),
    "digitalization": ("digitalisierung",),
    "digital": ("digitalisierung",),
    "future": ("zukunft",),
    "funding": ("foerderung", "foerderprogramme"),
    "subsidies": ("foerderung",),
    "mobility": ("mobilitaet",),
    "retail": ("einzelhandel", "handel"),
    "retailers": ("handel",),
    "shops": ("handel", "laden"),
    "downtown": ("innenstadt",),
    "centre": ("innenstadt",),
    "center": ("innenstadt",),
    "logistics": ("logistik",),
    "newcomers": ("willkommen",),
    "welcome": ("willkommen",),
    "onboarding": ("willkommen", "einfuehrung"),
    "property": ("immobilien",),
    "properties": ("immobilien",),
    "estate": ("immobilien",),
    "letting": ("nachvermietung",),
    "reletting": ("nachvermietung",),
    "tenants": ("nachvermietung", "mieter"),
    "research": ("forschung",),
    "public": ("oeffentlicher",),
    "space": ("raum",),
    "tourism": ("tourismus",),
    "culture": ("kultur",),
    "housing": ("wohnen",),
    "climate": ("klimaschutz",),
    "quality": ("lebensqualitaet",),
    "marketing": ("stadtmarketing", "marketing"),
    "network": ("netzwerk",),
    "networking": ("netzwerk",),
    "platform": ("plattform",),
}
HELP_WORDS = frozenset("hilfe help befehle commands".split())
HELP_PHRASES = re.compile(
    r"\b(?:was kannst du|was koennen sie|was kann der bot|what can you do|what can i do|how does this work"
    r"|was kann (?:ich|man) (?:hier |damit |mit (?:dem|diesem|dir|ihnen) ?\w* )?(?:machen|tun)"
    r"|wie funktioniert"
    r"(?: das| der bot)?\b)"
)
THANKS_WORDS = frozenset("danke dankeschoen vielen dank thanks thank thx merci super prima toll".split())

TOPIC_MARKERS = frozenset("zu zum zur ueber thema themen about on regarding topic concerning".split())
LIST_PHRASES = re.compile(
    r"\b(?:steht\s+an|stehen\s+an|what'?s\s+on|what\s+is\s+on|coming\s+up|ist\s+los|geht\s+ab|agenda|"
    r"programm|schedule|happening|anything\s+on)\b"
)

# --- the newsletter's other parts: news, best practices, new members, the impulse --------------------

# Words that ask for news ("Was gibt es Neues?", "Any news on funding?").
NEWS_WORDS = frozenset(
    "neues neuigkeit neuigkeiten news nachricht nachrichten meldung meldungen pressemeldung "
    "pressemeldungen pressemitteilung pressemitteilungen aktuelles updates".split()
)
# Words that ask for best practices ("Gibt es ein Best Practice zu Leerstand?").
PRACTICE_WORDS = frozenset(
    "bestpractice bestpractices praxisbeispiel praxisbeispiele beispiel beispiele vorbild vorbilder "
    "erfolgsbeispiel erfolgsbeispiele fallbeispiel fallbeispiele handlungsempfehlung handlungsempfehlungen "
    "erfahrungsbericht erfahrungsberichte example examples practice practices casestudy casestudies".split()
)
IMPULSE_WORDS = frozenset("impuls impulse impulses impulsen wochenimpuls denkanstoss denkanstoesse".split())
# "neu", "new": with who/members/kinds of organisations they ask for new members, alone for news.
NEW_WORDS = frozenset(
    "neu neue neuen neuer new newest latest recent recently kuerzlich zuletzt juengst frisch".split()
)
# Words around new members that name no subject of their own ("neu im Netzwerk", "neu dabei").
MEMBER_WORDS = frozenset(
    "mitglied mitglieder mitgliedern member members netzwerk netzwerks network dabei joined beigetreten "
    "dazugekommen hinzugekommen".split()
)
WHO_WORDS = frozenset("wer who".split())
# Words that alone say someone joined.
JOINED_WORDS = frozenset("joined beigetreten dazugekommen hinzugekommen".split())
# Kinds of member organisations, as members name them.
ORGANIZATION_WORDS: dict[str, str] = {
    **dict.fromkeys(
        "kommune kommunen gemeinde gemeinden stadt staedte staedten municipality municipalities towns "
        "cities city".split(),
        "municipality",
    ),
    **dict.fromkeys(
        "unternehmen firma firmen startup startups company companies business businesses".split(), "company"
    ),
    **dict.fromkeys("partner partnern partners".split(), "partner"),
    **dict.fromkeys(
        "verband verbaende verbaenden verein vereine association associations".split(), "association"
    ),
}
# Phrases whose words would otherwise read as a date ("der Woche") or as two words ("best practice").
NEWSLETTER_PHRASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bimpuls(?:e|es)?\s+(?:der|dieser|dieser\s+einen)\s+woche\b", re.I), "impuls"),
    (re.compile(r"\bimpulse\s+of\s+the\s+week\b", re.I), "impulse"),
    (re.compile(r"\b(?:this|the)\s+week'?s\s+impulse\b", re.I), "impulse"),
    (re.compile(r"\bbest[\s-]+practices?\b", re.I), "bestpractice"),
    (re.compile(r"\bcase[\s-]+stud(?:y|ies)\b", re.I), "casestudy"),
]
