"""Danish name lists for the synthetic CPR spine.

Modest lists, weighted roughly like Danish frequency (the -sen names dominate), with the
letters æ, ø and å and double surnames present on purpose: they are what breaks naive
Latin-1/UTF-8 handling and what cross-border linkage has to survive.
"""

from __future__ import annotations

MALE_FIRST: tuple[str, ...] = (
    "Peter", "Michael", "Lars", "Jens", "Thomas", "Henrik", "Søren", "Christian", "Martin",
    "Jan", "Niels", "Anders", "Morten", "Jesper", "Mads", "Rasmus", "Per", "Hans", "Jørgen",
    "Ole", "Kim", "Frederik", "Mikkel", "Kasper", "Erik", "Poul", "Bjørn", "Jørn", "Kåre",
    "Torben", "Flemming", "Steen", "Bent", "Knud", "Carsten", "Oliver", "William", "Noah",
    "Lucas", "Emil", "Victor", "Magnus", "Aksel", "Malthe", "Alfred", "Oscar", "Valdemar",
    "Asger", "Jakob", "Benjamin", "Sebastian", "Troels", "Palle", "Preben", "Ebbe", "Mohammed",
    "Ali", "Tobias", "Rune", "Thor",
)

FEMALE_FIRST: tuple[str, ...] = (
    "Anne", "Kirsten", "Mette", "Hanne", "Anna", "Helle", "Susanne", "Lene", "Maria",
    "Marianne", "Lone", "Camilla", "Pia", "Louise", "Charlotte", "Bente", "Tina", "Inge",
    "Gitte", "Karen", "Birgitte", "Rikke", "Julie", "Emma", "Ida", "Sofie", "Freja", "Clara",
    "Alma", "Ella", "Agnes", "Karla", "Laura", "Olivia", "Astrid", "Åse", "Sørine", "Bodil",
    "Grethe", "Jytte", "Ulla", "Dorte", "Lærke", "Mathilde", "Signe", "Ane", "Tove", "Else",
    "Birthe", "Ingrid", "Merete", "Josefine", "Caroline", "Nanna", "Sara", "Fatima", "Aya",
    "Maja", "Sigrid", "Solveig",
)

# (surname, relative frequency). The top -sen names carry most of the mass, as in Denmark.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("Nielsen", 22), ("Jensen", 23), ("Hansen", 20), ("Pedersen", 15), ("Andersen", 15),
    ("Christensen", 11), ("Larsen", 10), ("Sørensen", 10), ("Rasmussen", 8), ("Jørgensen", 8),
    ("Petersen", 7), ("Madsen", 6), ("Kristensen", 6), ("Olsen", 5), ("Thomsen", 4),
    ("Christiansen", 4), ("Poulsen", 3.5), ("Johansen", 3.5), ("Møller", 3.5),
    ("Mortensen", 3.5), ("Knudsen", 2.5), ("Jakobsen", 2), ("Jacobsen", 1.5),
    ("Mikkelsen", 2), ("Olesen", 2), ("Frederiksen", 2), ("Laursen", 2), ("Henriksen", 2),
    ("Lund", 2), ("Schmidt", 1.5), ("Eriksen", 1.5), ("Holm", 1.5), ("Kristiansen", 1.5),
    ("Clausen", 1.5), ("Simonsen", 1.5), ("Svendsen", 1.3), ("Andreasen", 1.3),
    ("Iversen", 1.3), ("Jeppesen", 1.2), ("Mogensen", 1.2), ("Jespersen", 1.1),
    ("Nissen", 1.1), ("Lauridsen", 1.1), ("Frandsen", 1), ("Østergaard", 1), ("Jepsen", 1),
    ("Kjær", 1), ("Carlsen", 0.9), ("Vestergaard", 0.9), ("Jessen", 0.9), ("Nørgaard", 0.9),
    ("Dahl", 0.9), ("Christoffersen", 0.8), ("Skov", 0.8), ("Søndergaard", 0.8),
    ("Bertelsen", 0.7), ("Bruun", 0.7), ("Lassen", 0.7), ("Bach", 0.7), ("Gregersen", 0.6),
    ("Friis", 0.6), ("Johnsen", 0.6), ("Steffensen", 0.6), ("Kjeldsen", 0.6), ("Bech", 0.6),
    ("Krogh", 0.6), ("Lauritsen", 0.5), ("Danielsen", 0.5), ("Mathiasen", 0.5),
    ("Andresen", 0.5), ("Brandt", 0.5), ("Winther", 0.5), ("Toft", 0.5), ("Ravn", 0.5),
    ("Dam", 0.5), ("Bang", 0.4), ("Bæk", 0.4), ("Ågård", 0.3), ("Aagaard", 0.4),
    ("Højgaard", 0.3), ("Kjærgaard", 0.4), ("Dalsgaard", 0.4), ("Bøgh", 0.3), ("Lykke", 0.3),
    ("Fogh", 0.2), ("Aaberg", 0.2), ("Ahmed", 0.4), ("Ali", 0.3), ("Nguyen", 0.3),
    ("Yilmaz", 0.3), ("Kowalski", 0.2),
)

# Danish middle names are mostly surname-like family names.
MIDDLE_NAMES: tuple[str, ...] = (
    "Holm", "Lund", "Skov", "Bach", "Møller", "Kjær", "Dam", "Juul", "Krogh", "Vinther",
    "Birk", "Østergaard", "Munk", "Brøndum", "Bøgelund", "Refslund", "Damgaard", "Rask",
    "Hald", "Bjerre", "Marie", "Louise", "Sofie", "Emil", "Valdemar",
)

# Countries in migration events, as Danish names (Latin-1 safe, some with æ/ø).
COUNTRIES: tuple[tuple[str, float], ...] = (
    ("Sverige", 10), ("Norge", 8), ("Tyskland", 9), ("Storbritannien", 6), ("Polen", 7),
    ("Rumænien", 6), ("Ukraine", 5), ("Syrien", 3), ("USA", 4), ("Spanien", 3),
    ("Færøerne", 2), ("Grønland", 2), ("Island", 1), ("Frankrig", 2), ("Indien", 3),
    ("Tyrkiet", 2), ("Litauen", 2), ("Holland", 2), ("Italien", 2), ("Østrig", 1),
)
