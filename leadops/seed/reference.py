"""Fixed reference data of the sample: fictional companies, names, titles, sources and campaigns.

Seed-independent: the generator draws from these lists with its own ``random.Random``.
"""
from __future__ import annotations

# country|company name|industry ; a leading "!" marks a company the firmographics file
# does not know (enrichment misses). Fictional names.
COMPANIES = """
FR|Atelier Numérique SAS|Software
FR|Données & Cie SARL|IT Services
FR|Logistique Rhône-Alpes SA|Logistics
FR|Banque Lumière SA|Financial Services
FR|Pharmacie Centrale Distribution|Healthcare
FR|Énergies Côtières SAS|Energy
FR|Télécom Océan SA|Telecommunications
FR|Maison Lefranc Retail|Retail
FR|Métallurgie du Nord SA|Manufacturing
FR|Clinique Numérique SAS|Healthcare
FR|Assurances Mutuelles de l'Ouest|Financial Services
FR|Groupe Hélios Industrie|Manufacturing
FR|Cloudéa SAS|Software
FR|Nuage Bleu Technologies|Software
FR|Quantique Conseil|IT Services
FR|Transports Garnier & Fils|Logistics
FR|Boulangeries Réunies SA|Retail
FR|Éditions Pédagogiques Lumière|Education
FR|Région Numérique Occitanie|Public Sector
FR|Vignobles Château Rocher|Retail
FR|Solaris Énergie SAS|Energy
FR|Pixel & Cie|Software
FR|DataFlux France SAS|Software
FR|Mécanique Précision Lyon|Manufacturing
FR|Crédit Horizon SA|Financial Services
FR|Octave Santé|Healthcare
FR|Réseaux Alpins SAS|Telecommunications
FR|Fromageries de Savoie SA|Manufacturing
FR|LogiParc SAS|Logistics
FR|Agence Kilomètre Zéro|IT Services
FR|Sécurité Numérique Française|Software
FR|Bordeaux Analytique|IT Services
FR|Strasbourg Robotique SAS|Manufacturing
FR|Optique Lumière Distribution|Retail
FR|Université Ouverte de Lille|Education
FR|Mairie de Saint-Éloi|Public Sector
FR|Hexagone Paiements SAS|Financial Services
FR|Papeteries Dauphinoises|Manufacturing
FR|Vélocité Mobilité SAS|Logistics
FR|Immobilière Parisienne Conseil|Financial Services
BE|Gantoise Logistics NV|Logistics
BE|Wallonie Data SA|IT Services
BE|Antwerp Diamond Analytics BV|Financial Services
BE|Bruxelles Santé SA|Healthcare
BE|Liège Acier SA|Manufacturing
BE|Flanders Retail Group NV|Retail
BE|Brasserie Numérique SRL|Software
LU|Luxfin Services SA|Financial Services
LU|Moselle Cloud Sàrl|Software
LU|Kirchberg Fund Tech SA|Financial Services
CH|Helvetia Präzision AG|Manufacturing
CH|Léman Software SA|Software
CH|Zürich Data Systems AG|IT Services
CH|Alpenbank Privée SA|Financial Services
CH|Matterhorn Pharma AG|Healthcare
DE|Bäckerei Software GmbH|Software
DE|Müller & Söhne Maschinenbau GmbH|Manufacturing
DE|Rheinland Logistik AG|Logistics
DE|Schwarzwald Energie GmbH|Energy
DE|Hansa Telekom AG|Telecommunications
DE|Berliner Datenwerk GmbH|Software
DE|Bayerische Versicherung Digital AG|Financial Services
DE|Kölner Handelshaus GmbH|Retail
DE|Gesundheit Plus Kliniken GmbH|Healthcare
DE|Stahlwerk Ruhr AG|Manufacturing
DE|Nordsee Windkraft GmbH|Energy
DE|Sicherheit & Netz GmbH|IT Services
DE|Frankfurter Zahlungsdienste AG|Financial Services
DE|Leipziger Lernwerk gGmbH|Education
DE|Stadtverwaltung Grünfeld|Public Sector
DE|Autoteile Schwaben GmbH|Manufacturing
AT|Wiener Software Manufaktur GmbH|Software
AT|Alpen Logistik GmbH|Logistics
AT|Donau Versicherung AG|Financial Services
AT|Tiroler Holzbau GmbH|Manufacturing
GB|Thames Analytics Ltd|Software
GB|Brightwater Retail plc|Retail
GB|Pennine Logistics Ltd|Logistics
GB|Kestrel Health Ltd|Healthcare
GB|Albion Telecom plc|Telecommunications
GB|Cobalt Finance Ltd|Financial Services
GB|Harrow & Finch Consulting LLP|IT Services
GB|Northern Grid Energy Ltd|Energy
GB|Oakridge Manufacturing Ltd|Manufacturing
GB|Camden Cloud Ltd|Software
GB|Severn Software Ltd|Software
GB|Highland Data Works Ltd|IT Services
GB|Royal Borough Digital Services|Public Sector
GB|St Aldate's College Online|Education
GB|Mersey Payments Ltd|Financial Services
GB|Greenwich Retail Group Ltd|Retail
IE|Liffey Labs Ltd|Software
IE|Shamrock Payments DAC|Financial Services
IE|Connacht Medical Devices Ltd|Healthcare
IE|Galway Bay Logistics Ltd|Logistics
NL|Van der Berg Logistiek BV|Logistics
NL|Grachten Software BV|Software
NL|Tulip Fintech BV|Financial Services
NL|Delta Waterbouw NV|Manufacturing
NL|Utrechtse Zorggroep BV|Healthcare
NL|Oranje Telecom BV|Telecommunications
NL|Rotterdam Haven Data BV|IT Services
NL|Eindhoven Photonics BV|Manufacturing
ES|Soluciones Núñez SL|IT Services
ES|Iberia Datos SA|Software
ES|Logística Mediterránea SL|Logistics
ES|Banca Cantábrica SA|Financial Services
ES|Energía Solar Andaluza SA|Energy
ES|Clínicas Salud Norte SL|Healthcare
ES|Moda Castellana SA|Retail
IT|Tecnologie Lombarde Srl|Software
IT|Meccanica Emiliana SpA|Manufacturing
IT|Banca del Lago SpA|Financial Services
IT|Logistica Adriatica Srl|Logistics
IT|Moda Fiorentina SpA|Retail
IT|Salute Roma Srl|Healthcare
PT|Lusitânia Software Lda|Software
PT|Porto Logística SA|Logistics
PT|Atlântico Energia SA|Energy
DK|Søren & Co Software ApS|Software
DK|Københavns Fintech A/S|Financial Services
DK|Jylland Vindkraft A/S|Energy
SE|Göteborg Systemutveckling AB|IT Services
SE|Norrsken Analys AB|Software
SE|Malmö Medicinteknik AB|Healthcare
NO|Nordlys Data AS|Software
NO|Fjord Shipping Logistics AS|Logistics
NO|Bergen Havbruk AS|Manufacturing
FI|Sisu Pilvipalvelut Oy|Software
FI|Helsinki Telecom Oy|Telecommunications
PL|Łódź Software House Sp. z o.o.|Software
PL|Kraków Analityka Sp. z o.o.|IT Services
PL|Wrocław Logistyka S.A.|Logistics
PL|Gdańsk Stocznia Tech S.A.|Manufacturing
PL|Warszawa Finanse S.A.|Financial Services
CZ|Praha Datové Služby s.r.o.|IT Services
CZ|Brno Strojírny a.s.|Manufacturing
US|Hudson River Analytics Inc|Software
US|Lone Star Logistics LLC|Logistics
US|Pacific Crest Health Inc|Healthcare
US|Granite State Manufacturing Co|Manufacturing
US|Brooklyn Commerce Inc|Retail
US|Evergreen Payments Inc|Financial Services
US|Blue Ridge Energy Corp|Energy
US|Silicon Prairie Software Inc|Software
US|Keystone IT Partners LLC|IT Services
US|Great Lakes Telecom Inc|Telecommunications
US|Sunbelt Retail Group Inc|Retail
US|Commonwealth Learning Inc|Education
US|Bay Area Data Labs Inc|Software
US|Empire Insurance Tech Inc|Financial Services
CA|Maple Leaf Analytics Inc|Software
CA|Québec Logiciels Inc|Software
CA|Rocheuses Énergie Ltée|Energy
MA|Casablanca Digital SARL|IT Services
MA|Atlas Télécom SA|Telecommunications
!FR|Start-up Éclair SAS|Software
!FR|Cabinet Dufresne & Associés|Financial Services
!FR|Les Ateliers de la Fontaine|Manufacturing
!FR|Coopérative Agricole du Berry|Retail
!FR|SARL Dupont Informatique|IT Services
!DE|Jäger Digital UG|Software
!GB|Fenwick & Pryce Ltd|IT Services
!US|Tiny Rocket Labs Inc|Software
!US|Garage Ventures LLC|IT Services
!NL|Kleine Vis BV|Retail
!ES|Startup Peña SL|Software
!BE|Atelier Gaufre SRL|Retail
!IT|Officine Bianchi Srl|Manufacturing
!PL|Nowy Start Sp. z o.o.|IT Services
!SE|Liten Byrå AB|IT Services
!CH|Genève Micro Sàrl|Software
!IE|Cork Startups Ltd|Software
"""

LEGAL_FORMS = {
    "sas", "sarl", "sa", "srl", "sprl", "nv", "bv", "sàrl", "ag", "gmbh", "ggmbh", "ug", "ltd", "plc", "llp",
    "dac", "sl", "spa", "lda", "aps", "a/s", "ab", "as", "oy", "sp. z o.o.", "s.a.", "s.r.o.", "a.s.", "inc",
    "llc", "co", "corp", "ltée",
}
TLD = {
    "FR": "fr", "BE": "be", "LU": "lu", "CH": "ch", "DE": "de", "AT": "at", "GB": "co.uk", "IE": "ie", "NL": "nl",
    "ES": "es", "IT": "it", "PT": "pt", "DK": "dk", "SE": "se", "NO": "no", "FI": "fi", "PL": "pl", "CZ": "cz",
    "US": "com", "CA": "ca", "MA": "ma",
}
CITIES = {
    "FR": ["Paris", "Lyon", "Marseille", "Toulouse", "Bordeaux", "Lille", "Nantes", "Strasbourg", "Grenoble"],
    "BE": ["Bruxelles", "Anvers", "Gand", "Liège"], "LU": ["Luxembourg", "Esch-sur-Alzette"],
    "CH": ["Genève", "Zürich", "Lausanne", "Bâle"], "DE": ["Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main"],
    "AT": ["Wien", "Graz", "Innsbruck"], "GB": ["London", "Manchester", "Leeds", "Edinburgh", "Bristol"],
    "IE": ["Dublin", "Cork", "Galway"], "NL": ["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"],
    "ES": ["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao"], "IT": ["Milano", "Roma", "Torino", "Bologna"],
    "PT": ["Lisboa", "Porto"], "DK": ["København", "Aarhus"], "SE": ["Stockholm", "Göteborg", "Malmö"],
    "NO": ["Oslo", "Bergen"], "FI": ["Helsinki", "Espoo"], "PL": ["Warszawa", "Kraków", "Wrocław", "Łódź", "Gdańsk"],
    "CZ": ["Praha", "Brno"], "US": ["New York", "Boston", "Austin", "San Francisco", "Chicago", "Atlanta"],
    "CA": ["Toronto", "Montréal", "Vancouver"], "MA": ["Casablanca", "Rabat"],
}
TECHNOLOGIES = [
    "Salesforce", "HubSpot", "Marketo", "Pardot", "Snowflake", "BigQuery", "AWS", "Azure", "Google Cloud", "Slack",
    "Microsoft Teams", "Zendesk", "SAP", "Oracle", "PostgreSQL", "Kubernetes", "Segment", "Outreach", "Salesloft",
    "Pipedrive", "Zoho CRM", "Dynamics 365", "Google Workspace", "Intercom",
]
BANDS = [(10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"), (5000, "1001-5000"), (10**9, "5001+")]

NAMES: dict[str, tuple[list[str], list[str]]] = {
    "fr": (
        ["Élodie", "François", "Camille", "Jean", "Marie", "Hélène", "Stéphane", "Amélie", "Jérôme", "Céline",
         "Benoît", "Chloé", "Léa", "Mathieu", "Nicolas", "Sébastien", "Anaïs", "Clément", "Gaëlle", "Loïc", "Inès",
         "Thibault", "Aurélie", "Frédéric", "Noémie", "Jean-Pierre", "Marie-Claire", "Zoé", "Raphaël", "Maëlle"],
        ["Dupont", "Martin", "Bernard", "Lefèvre", "Girard", "Rousseau", "Bonnet", "Mercier", "d'Artagnan",
         "de la Fontaine", "Fournier", "Lambert", "Faure", "André", "Chevalier", "Garnier", "Leroy", "Masson",
         "Bérenger", "Dubois-Meyer", "Lemaître", "Perrin", "Gauthier", "Noël", "Brûlé", "de Villiers", "Moreau",
         "Roux", "Lefranc", "Benoît"],
    ),
    "de": (
        ["Jürgen", "Björn", "Lena", "Lukas", "Anna", "Katharina", "Maximilian", "Sophie", "Jörg", "Sven", "Uwe",
         "Greta", "Tobias", "Stefan", "Ulrike", "Dörte", "Matthias", "Jonas", "Laura", "Felix"],
        ["Müller", "Schäfer", "Groß", "Weiß", "Schmidt", "Schneider", "Fischer", "Wagner", "Becker", "Hoffmann",
         "Köhler", "Krüger", "Böhm", "Vogel", "Zimmermann", "Weber", "Hartmann", "Lange", "Schröder", "Jäger"],
    ),
    "en": (
        ["Oliver", "Amelia", "Harry", "Isla", "George", "Charlotte", "Siobhán", "Niamh", "Ciarán", "Eoin", "James",
         "Emily", "Thomas", "Grace", "William", "Sophie", "Daniel", "Hannah", "Aoife", "Rhys"],
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "O'Brien", "O'Sullivan", "Murphy", "Kelly",
         "Evans", "Hughes", "Edwards", "McCarthy", "Walsh", "Thompson", "Clarke", "Robinson", "Wright", "Ó Súilleabháin"],
    ),
    "us": (
        ["Michael", "Jennifer", "Christopher", "Jessica", "Ashley", "Matthew", "Brittany", "Tyler", "Madison",
         "Joshua", "Kayla", "Brandon", "Samantha", "Justin", "Lauren", "Ryan", "Megan", "Kevin", "Rachel", "Jason"],
        ["Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Anderson", "Jackson", "Thomas", "White",
         "Harris", "Clark", "Lewis", "Lee", "Walker", "Hall", "Allen", "Young", "King", "Nguyen"],
    ),
    "es": (
        ["José", "María", "Íñigo", "Lucía", "Álvaro", "Sofía", "Javier", "Carmen", "Raúl", "Begoña", "Sergio",
         "Nuria", "Pablo", "Ángela", "Rubén"],
        ["Núñez", "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
         "Muñoz", "Jiménez", "Ibáñez", "Peña", "Castaño"],
    ),
    "it": (
        ["Giulia", "Francesco", "Chiara", "Lorenzo", "Niccolò", "Alessandra", "Matteo", "Federica", "Andrea", "Elisa"],
        ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "De Luca"],
    ),
    "pt": (
        ["João", "Inês", "Gonçalo", "Mariana", "Tomás", "Beatriz", "Rui", "Conceição"],
        ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Gonçalves", "Magalhães"],
    ),
    "nl": (
        ["Daan", "Sanne", "Jeroen", "Femke", "Joost", "Anouk", "Bram", "Lotte", "Thijs", "Eline"],
        ["van der Berg", "de Vries", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "de Jong", "van den Broek",
         "Mulder"],
    ),
    "pl": (
        ["Łukasz", "Małgorzata", "Paweł", "Agnieszka", "Grzegorz", "Katarzyna", "Wojciech", "Zofia", "Michał",
         "Joanna"],
        ["Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Szymańska",
         "Dąbrowski", "Kozłowski"],
    ),
    "nordic": (
        ["Søren", "Mette", "Lars", "Åsa", "Björn", "Ingrid", "Mikael", "Sigrid", "Jens", "Eeva", "Jukka", "Päivi",
         "Øystein", "Kirsten"],
        ["Sørensen", "Jørgensen", "Nielsen", "Andersson", "Johansson", "Lindqvist", "Åberg", "Hansen", "Berg",
         "Virtanen", "Mäkinen", "Korhonen", "Strøm", "Østergaard"],
    ),
    "cz": (
        ["Jiří", "Petra", "Tomáš", "Lucie", "Ondřej", "Kateřina"],
        ["Novák", "Dvořák", "Černý", "Procházková", "Kučera", "Veselý"],
    ),
    "ma": (
        ["Youssef", "Fatima-Zahra", "Mehdi", "Salma", "Karim", "Nadia"],
        ["El Amrani", "Benali", "Bennani", "Alaoui", "Tazi", "El Idrissi"],
    ),
}
# country -> [(name locale, language, weight)]
LOCALES: dict[str, list[tuple[str, str, float]]] = {
    "FR": [("fr", "fr", 1)], "BE": [("fr", "fr", 0.6), ("nl", "nl", 0.4)], "LU": [("fr", "fr", 0.7), ("de", "de", 0.3)],
    "CH": [("fr", "fr", 0.5), ("de", "de", 0.5)], "DE": [("de", "de", 1)], "AT": [("de", "de", 1)],
    "GB": [("en", "en", 1)], "IE": [("en", "en", 1)], "NL": [("nl", "nl", 1)], "ES": [("es", "es", 1)],
    "IT": [("it", "it", 1)], "PT": [("pt", "pt", 1)], "DK": [("nordic", "da", 1)], "SE": [("nordic", "sv", 1)],
    "NO": [("nordic", "nb", 1)], "FI": [("nordic", "fi", 1)], "PL": [("pl", "pl", 1)], "CZ": [("cz", "cs", 1)],
    "US": [("us", "en", 1)], "CA": [("us", "en", 0.7), ("fr", "fr", 0.3)], "MA": [("ma", "fr", 1)],
}
COUNTRY_TZ = {
    "GB": "Europe/London", "IE": "Europe/Dublin", "PT": "Europe/Lisbon", "FI": "Europe/Helsinki",
    "US": "America/New_York", "CA": "America/Toronto", "MA": "Africa/Casablanca",
}
FREE_DOMAINS = {
    "FR": ["gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr", "wanadoo.fr"],
    "DE": ["gmail.com", "gmx.de", "web.de", "t-online.de"], "GB": ["gmail.com", "hotmail.co.uk", "outlook.com"],
    "US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com"],
}
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 6, 10, 12, 12, 11, 8, 9, 11, 11, 10, 8, 6, 5, 4, 3, 2, 1]  # local hour of arrival
COMPETITORS = [("RivalLeads", "rivalleads.com"), ("LeadForge", "leadforge.io"), ("RoutePilot", "routepilot.com")]

# (title, seniority, department); department None means no ICP department
TITLES: dict[str, list[tuple[str, str, str | None]]] = {
    "en": [
        ("CEO", "c_level", "executive"), ("CTO", "c_level", "engineering"), ("CIO", "c_level", "it"),
        ("CFO", "c_level", "finance"), ("VP Sales", "vp", "sales"), ("VP Marketing", "vp", "marketing"),
        ("VP Engineering", "vp", "engineering"), ("Head of Data", "director", "it"),
        ("Director of Operations", "director", "operations"), ("IT Director", "director", "it"),
        ("Sales Operations Manager", "manager", "sales"), ("Marketing Manager", "manager", "marketing"),
        ("Revenue Operations Manager", "manager", "operations"), ("Engineering Manager", "manager", "engineering"),
        ("Data Engineer", "individual", "engineering"), ("Business Analyst", "individual", "operations"),
        ("Software Developer", "individual", "engineering"), ("Account Manager", "individual", "sales"),
        ("Procurement Officer", "individual", "finance"),
    ],
    "fr": [
        ("Directeur Général", "c_level", "executive"), ("Directrice des Systèmes d'Information", "director", "it"),
        ("DSI", "c_level", "it"), ("Directeur Commercial", "director", "sales"),
        ("Responsable Marketing", "manager", "marketing"), ("Chef de projet informatique", "manager", "it"),
        ("Responsable des opérations", "manager", "operations"), ("Ingénieur données", "individual", "engineering"),
        ("Développeuse", "individual", "engineering"), ("Contrôleur de gestion", "individual", "finance"),
        ("Directrice Administrative et Financière", "director", "finance"),
        ("Responsable Sales Ops", "manager", "sales"),
    ],
    "de": [
        ("Geschäftsführer", "c_level", "executive"), ("Leiter IT", "director", "it"),
        ("Vertriebsleiterin", "director", "sales"), ("Marketing Managerin", "manager", "marketing"),
        ("Softwareentwickler", "individual", "engineering"), ("Leiterin Betrieb", "manager", "operations"),
    ],
}
STUDENT_TITLES = {"fr": "Étudiant", "de": "Werkstudent", "en": "Student"}

SOURCE_WEIGHTS = {
    "web_form": 24, "demo_request": 8, "contact_sales": 5, "white_paper": 15, "webinar": 15, "trade_show": 10,
    "outbound_list": 23,
}
CAMPAIGNS = {
    "web_form": ["Website organic", "Google Ads – Lead Routing", "LinkedIn Ads – RevOps"],
    "demo_request": ["Demo page"], "contact_sales": ["Pricing page – contact sales"],
    "white_paper": ["Livre blanc : le lead scoring en 2026", "Guide: SLA for inbound leads"],
    "webinar": ["Webinar: routing leads in real time"],
    "trade_show": ["Salon Big Data Paris", "Salon Big Data Paris"],
    "outbound_list": ["Outbound – Enterprise EMEA", "Outbound – Mid-market DACH"],
}
ENGAGEMENT_EVENTS = [("pricing_page", 0.35), ("email_click", 0.5), ("webinar_attended", 0.12), ("white_paper", 0.2)]
FRENCH_COUNTRIES = {
    "FR": "France", "BE": "Belgique", "LU": "Luxembourg", "CH": "Suisse", "DE": "Allemagne", "AT": "Autriche",
    "GB": "Royaume-Uni", "IE": "Irlande", "NL": "Pays-Bas", "ES": "Espagne", "IT": "Italie", "PT": "Portugal",
    "DK": "Danemark", "SE": "Suède", "NO": "Norvège", "FI": "Finlande", "PL": "Pologne", "CZ": "Tchéquie",
    "US": "États-Unis", "CA": "Canada", "MA": "Maroc",
}
ENGLISH_COUNTRIES = {
    "FR": "France", "BE": "Belgium", "LU": "Luxembourg", "CH": "Switzerland", "DE": "Germany", "AT": "Austria",
    "GB": "United Kingdom", "IE": "Ireland", "NL": "Netherlands", "ES": "Spain", "IT": "Italy", "PT": "Portugal",
    "DK": "Denmark", "SE": "Sweden", "NO": "Norway", "FI": "Finland", "PL": "Poland", "CZ": "Czech Republic",
    "US": "United States", "CA": "Canada", "MA": "Morocco",
}
