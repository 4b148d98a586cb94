"""Deterministic sample data: eight weeks of a B2B company's lead operations.

``leadops seed`` builds a :class:`SeedPlan` with :func:`generate` (pure: one
``random.Random(seed)``, no clock, no IO), then writes it:

* **history** (the 7 ISO weeks before the week containing ``anchor``): leads that already
  went through the pipeline, written straight into the database with their accounts,
  stage history, assignments, SLA clocks and events, activities and opportunities
  (:func:`write_history`);
* **current week**: raw inbox files in the formats the readers must cope with, dirt and
  duplicates included, for the pipeline to ingest (:func:`write_inbox_files`).

Same ``seed`` and ``anchor`` give byte-identical files and identical rows. Re-running is
idempotent: leads are keyed by email, accounts by domain, activities by ``external_key``;
rows hanging off a lead are only written together with a newly inserted lead.

The bundled offline enrichment file ``leadops/data/firmographics.csv`` is generated from
the fixed company list below by :func:`write_firmographics` (independent of the seed).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leadops.config import Person, Rules
from leadops.domain import normalize
from leadops.domain.business_time import WorkCalendar, add_business_seconds
from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
from leadops.domain.roster import absence_instant
from leadops.domain.scoring import EngagementEvent, LeadFeatures, ScoreResult, score_lead
from leadops.services.route import lead_fields, policy_for
from leadops.services.score import REPLY_OUTCOMES

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
FIRMOGRAPHICS_PATH = Path(__file__).parent / "data" / "firmographics.csv"
SEED_SCORE_VERSION = "seed"
HISTORY_WEEKS = 7
HISTORY_SHARE = 0.85

# --------------------------------------------------------------------------- reference data

# country|company name|industry ; a leading "!" marks a company the firmographics file
# does not know (enrichment misses). Fictional names.
_COMPANIES = """
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

_LEGAL_FORMS = {
    "sas", "sarl", "sa", "srl", "sprl", "nv", "bv", "sàrl", "ag", "gmbh", "ggmbh", "ug", "ltd", "plc", "llp",
    "dac", "sl", "spa", "lda", "aps", "a/s", "ab", "as", "oy", "sp. z o.o.", "s.a.", "s.r.o.", "a.s.", "inc",
    "llc", "co", "corp", "ltée",
}
_TLD = {
    "FR": "fr", "BE": "be", "LU": "lu", "CH": "ch", "DE": "de", "AT": "at", "GB": "co.uk", "IE": "ie", "NL": "nl",
    "ES": "es", "IT": "it", "PT": "pt", "DK": "dk", "SE": "se", "NO": "no", "FI": "fi", "PL": "pl", "CZ": "cz",
    "US": "com", "CA": "ca", "MA": "ma",
}
_CITIES = {
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
_TECHNOLOGIES = [
    "Salesforce", "HubSpot", "Marketo", "Pardot", "Snowflake", "BigQuery", "AWS", "Azure", "Google Cloud", "Slack",
    "Microsoft Teams", "Zendesk", "SAP", "Oracle", "PostgreSQL", "Kubernetes", "Segment", "Outreach", "Salesloft",
    "Pipedrive", "Zoho CRM", "Dynamics 365", "Google Workspace", "Intercom",
]
_BANDS = [(10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"), (5000, "1001-5000"), (10**9, "5001+")]

_NAMES: dict[str, tuple[list[str], list[str]]] = {
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
_LOCALES: dict[str, list[tuple[str, str, float]]] = {
    "FR": [("fr", "fr", 1)], "BE": [("fr", "fr", 0.6), ("nl", "nl", 0.4)], "LU": [("fr", "fr", 0.7), ("de", "de", 0.3)],
    "CH": [("fr", "fr", 0.5), ("de", "de", 0.5)], "DE": [("de", "de", 1)], "AT": [("de", "de", 1)],
    "GB": [("en", "en", 1)], "IE": [("en", "en", 1)], "NL": [("nl", "nl", 1)], "ES": [("es", "es", 1)],
    "IT": [("it", "it", 1)], "PT": [("pt", "pt", 1)], "DK": [("nordic", "da", 1)], "SE": [("nordic", "sv", 1)],
    "NO": [("nordic", "nb", 1)], "FI": [("nordic", "fi", 1)], "PL": [("pl", "pl", 1)], "CZ": [("cz", "cs", 1)],
    "US": [("us", "en", 1)], "CA": [("us", "en", 0.7), ("fr", "fr", 0.3)], "MA": [("ma", "fr", 1)],
}
_COUNTRY_TZ = {
    "GB": "Europe/London", "IE": "Europe/Dublin", "PT": "Europe/Lisbon", "FI": "Europe/Helsinki",
    "US": "America/New_York", "CA": "America/Toronto", "MA": "Africa/Casablanca",
}
_FREE_DOMAINS = {
    "FR": ["gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr", "wanadoo.fr"],
    "DE": ["gmail.com", "gmx.de", "web.de", "t-online.de"], "GB": ["gmail.com", "hotmail.co.uk", "outlook.com"],
    "US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com"],
}
_HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 6, 10, 12, 12, 11, 8, 9, 11, 11, 10, 8, 6, 5, 4, 3, 2, 1]  # local hour of arrival
_COMPETITORS = [("RivalLeads", "rivalleads.com"), ("LeadForge", "leadforge.io"), ("RoutePilot", "routepilot.com")]

# (title, seniority, department); department None means no ICP department
_TITLES: dict[str, list[tuple[str, str, str | None]]] = {
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
_STUDENT_TITLES = {"fr": "Étudiant", "de": "Werkstudent", "en": "Student"}

_SOURCE_WEIGHTS = {
    "web_form": 24, "demo_request": 8, "contact_sales": 5, "white_paper": 15, "webinar": 15, "trade_show": 10,
    "outbound_list": 23,
}
_CAMPAIGNS = {
    "web_form": ["Website organic", "Google Ads – Lead Routing", "LinkedIn Ads – RevOps"],
    "demo_request": ["Demo page"], "contact_sales": ["Pricing page – contact sales"],
    "white_paper": ["Livre blanc : le lead scoring en 2026", "Guide: SLA for inbound leads"],
    "webinar": ["Webinar: routing leads in real time"],
    "trade_show": ["Salon Big Data Paris", "Salon Big Data Paris"],
    "outbound_list": ["Outbound – Enterprise EMEA", "Outbound – Mid-market DACH"],
}
_ENGAGEMENT_EVENTS = [("pricing_page", 0.35), ("email_click", 0.5), ("webinar_attended", 0.12), ("white_paper", 0.2)]
_FRENCH_COUNTRIES = {
    "FR": "France", "BE": "Belgique", "LU": "Luxembourg", "CH": "Suisse", "DE": "Allemagne", "AT": "Autriche",
    "GB": "Royaume-Uni", "IE": "Irlande", "NL": "Pays-Bas", "ES": "Espagne", "IT": "Italie", "PT": "Portugal",
    "DK": "Danemark", "SE": "Suède", "NO": "Norvège", "FI": "Finlande", "PL": "Pologne", "CZ": "Tchéquie",
    "US": "États-Unis", "CA": "Canada", "MA": "Maroc",
}
_ENGLISH_COUNTRIES = {
    "FR": "France", "BE": "Belgium", "LU": "Luxembourg", "CH": "Switzerland", "DE": "Germany", "AT": "Austria",
    "GB": "United Kingdom", "IE": "Ireland", "NL": "Netherlands", "ES": "Spain", "IT": "Italy", "PT": "Portugal",
    "DK": "Denmark", "SE": "Sweden", "NO": "Norway", "FI": "Finland", "PL": "Poland", "CZ": "Czech Republic",
    "US": "United States", "CA": "Canada", "MA": "Morocco",
}
_TRANSLIT = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe",
                           "Œ": "OE", "đ": "d", "ı": "i"})

# --------------------------------------------------------------------------- plan dataclasses


@dataclass(frozen=True)
class Company:
    """One fictional company (grain: one per domain); ``listed`` = present in firmographics.csv."""

    name: str
    domain: str
    country: str
    industry: str
    listed: bool
    employee_count: int
    employee_band: str
    revenue_band: str
    hq_city: str
    technologies: tuple[str, ...]
    email_pattern: str  # first.last | flast | firstlast | first


@dataclass
class StageChange:
    """One lifecycle transition (grain: one per lead per transition)."""

    from_stage: str | None
    to_stage: str
    at: datetime
    cause: str


@dataclass
class PlannedActivity:
    """One activity row; ``sdr`` is a roster code or None for marketing ``web`` events."""

    external_key: str
    kind: str
    outcome: str | None
    occurred_at: datetime
    sdr: str | None = None
    scheduled_for: datetime | None = None
    detail: str | None = None


@dataclass
class PlannedClock:
    """One first-touch SLA clock with its events (grain: one per assignment)."""

    policy: str
    target_seconds: int
    started_at: datetime
    due_at: datetime
    status: str  # met | breached | open
    elapsed_seconds: int
    met_at: datetime | None
    evaluated_at: datetime | None
    events: list[tuple[str, datetime, int, str]]  # (step, at, elapsed_seconds, detail)


@dataclass
class PlannedAssignment:
    """The initial, active assignment of a history lead."""

    sdr: str
    rule: str
    reason: str
    candidates: list[dict[str, Any]]
    assigned_at: datetime


@dataclass
class PlannedOpportunity:
    """One SAO created from a held meeting (grain: one per lead at most in the seed)."""

    sdr: str
    ae: str | None
    created_at: datetime
    stage: str
    amount: float
    closed_at: datetime | None


@dataclass
class PlannedLead:
    """One history lead: its ``leads`` row values plus every row hanging off it."""

    fields: dict[str, Any]  # Lead columns except ids
    owner: str | None
    account_domain: str | None
    stages: list[StageChange] = field(default_factory=list)
    assignment: PlannedAssignment | None = None
    clock: PlannedClock | None = None
    activities: list[PlannedActivity] = field(default_factory=list)
    opportunity: PlannedOpportunity | None = None

    @property
    def email(self) -> str:
        return self.fields["email"]


@dataclass
class PlannedAccount:
    """One account row (grain: one per company domain seen in history)."""

    domain: str
    name: str
    name_key: str
    owner: str | None
    created_at: datetime


@dataclass(frozen=True)
class InboxRow:
    """One data row of an inbox file; ``kind`` is new | dirty | dup_inbox | dup_history, or in an
    activity export event | unknown_lead | unknown_event."""

    email: str
    kind: str
    note: str = ""


@dataclass(frozen=True)
class InboxFile:
    """One inbox file, already encoded: ``content`` is exactly the bytes to write."""

    name: str
    encoding: str
    content: bytes
    rows: tuple[InboxRow, ...]


@dataclass
class SeedPlan:
    """Everything the seed writes. ``cutoff``: nothing in the plan happens after it."""

    seed: int
    anchor: date
    week_start: datetime  # Monday 00:00 Europe/Paris of anchor's ISO week, in UTC
    history_start: datetime
    cutoff: datetime  # anchor day 00:00 Europe/Paris (activities stop there)
    companies: list[Company]
    accounts: list[PlannedAccount]
    leads: list[PlannedLead]
    inbox_files: list[InboxFile]
    # engagement exports (kind: activities in sources.yaml); separate from the lead files above
    activity_files: list[InboxFile] = field(default_factory=list)


# --------------------------------------------------------------------------- small helpers


def ascii_fold(text: str) -> str:
    """Return ``text`` without accents (Ł→L, ø→o, ß→ss as well)."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    return "".join(c for c in text if not unicodedata.combining(c))


def company_key(name: str) -> str:
    """Return the matching key of a company name: the pipeline's own key (normalize.company_key),
    so seeded accounts and leads match what ingestion computes; casefold as a fallback."""
    return normalize.company_key(name) or " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _strip_legal(name: str) -> str:
    words = name.split()
    for n in (3, 1):  # "Sp. z o.o." is three words
        if len(words) > n and " ".join(words[-n:]).lower() in _LEGAL_FORMS:
            return " ".join(words[:-n])
    if len(words) > 1 and words[0].lower() in _LEGAL_FORMS:
        return " ".join(words[1:])
    return name


def _slug(text: str, sep: str = "") -> str:
    words = ["".join(c for c in w if c.isalnum()) for w in ascii_fold(text).lower().replace("&", " ").split()]
    return sep.join(w for w in words if w)


def _local_part(first: str, last: str, pattern: str) -> str:
    f, l = _slug(first.replace("-", " "), "-") if "-" in first else _slug(first), _slug(last)
    return {"first.last": f"{f}.{l}", "flast": f"{f[0]}{l}", "firstlast": f"{f}{l}", "first": f}[pattern]


def _band(count: int) -> str:
    return next(b for limit, b in _BANDS if count <= limit)


def _revenue_band(count: int, rng: random.Random) -> str:
    revenue = count * rng.uniform(80_000, 250_000)
    for limit, band in [(1e6, "<1M"), (1e7, "1M-10M"), (5e7, "10M-50M"), (2.5e8, "50M-250M"), (1e9, "250M-1B")]:
        if revenue < limit:
            return band
    return "1B+"


def _utc(d: date, hh: int, mm: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(hh, mm), tz).astimezone(UTC)


def _calendar(p: Person) -> WorkCalendar:
    """Return the person's business calendar, as routing and SLA enforcement build it from the roster."""
    return WorkCalendar.build(p.time_zone, p.work_start, p.work_end, tuple(p.work_days), p.holiday_country,
                              [(absence_instant(o.start, p.time_zone, False), absence_instant(o.end, p.time_zone, True))
                               for o in p.out_of_office])


# --------------------------------------------------------------------------- firmographics


def companies() -> list[Company]:
    """Return the fixed company list with its firmographics (one per company; seed-independent)."""
    out = []
    for line in _COMPANIES.strip().splitlines():
        country, name, industry = line.split("|")
        listed = not country.startswith("!")
        country = country.lstrip("!")
        base = _strip_legal(name)
        words = [w for w in _slug(base, " ").split() if w not in {"de", "du", "la", "les", "et", "and", "of", "the"}]
        domain = "".join(words[:3]) + "." + _TLD[country]
        rng = random.Random(f"firmographics:{domain}")
        size = rng.choices([8, 35, 120, 500, 2500, 9000], [0.06, 0.2, 0.3, 0.26, 0.12, 0.06])[0] if listed else \
            rng.choice([4, 9, 25])
        count = max(2, int(size * rng.uniform(0.55, 1.6)))
        out.append(Company(
            name=name, domain=domain, country=country, industry=industry, listed=listed, employee_count=count,
            employee_band=_band(count), revenue_band=_revenue_band(count, rng), hq_city=rng.choice(_CITIES[country]),
            technologies=tuple(sorted(rng.sample(_TECHNOLOGIES, rng.randint(2, 5)))),
            email_pattern=rng.choices(["first.last", "flast", "firstlast", "first"], [0.7, 0.15, 0.1, 0.05])[0],
        ))
    return out


def firmographics_csv() -> str:
    """Return the text of firmographics.csv: one row per listed company, sorted by domain."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["domain", "legal_name", "industry", "employee_count", "employee_band", "revenue_band", "country",
                "hq_city", "technologies", "linkedin_url"])
    for c in sorted((c for c in companies() if c.listed), key=lambda c: c.domain):
        w.writerow([c.domain, c.name, c.industry, c.employee_count, c.employee_band, c.revenue_band, c.country,
                    c.hq_city, ";".join(c.technologies), f"linkedin.com/company/{_slug(_strip_legal(c.name), '-')}"])
    return buf.getvalue()


def write_firmographics(path: Path | str = FIRMOGRAPHICS_PATH) -> Path:
    """Write firmographics.csv (UTF-8, comma, LF) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(firmographics_csv().encode("utf-8"))
    return path


# --------------------------------------------------------------------------- people


@dataclass
class _Person:
    """A generated person before they become a history lead or an inbox row."""

    first: str
    last: str
    email: str
    company: Company | None
    company_name: str
    country: str
    language: str
    title: str
    seniority: str | None
    department: str | None
    phone: str | None
    free_email: bool = False
    competitor: bool = False
    student: bool = False


class _People:
    """Draws unique, plausible people; keeps the set of emails already used."""

    def __init__(self, rng: random.Random, comps: list[Company], competitor_domains: list[str]):
        self.rng = rng
        self.companies = comps
        self.weights = [1.0 + 0.4 * {"1-10": 0, "11-50": 1, "51-200": 2}.get(c.employee_band, 3) for c in comps]
        self.used: set[str] = set()
        comp = [(n, d) for n, d in _COMPETITORS if d in competitor_domains] or \
               [(d.split(".")[0].title(), d) for d in competitor_domains]
        self.competitors = comp

    def _name(self, country: str) -> tuple[str, str, str]:
        rng = self.rng
        locales = _LOCALES[country]
        locale, lang, _ = rng.choices(locales, [w for *_, w in locales])[0]
        if rng.random() < 0.08:  # international workforce
            locale = rng.choice(sorted(_NAMES))
        firsts, lasts = _NAMES[locale]
        return rng.choice(firsts), rng.choice(lasts), lang

    def _phone(self, country: str) -> str | None:
        if self.rng.random() < 0.3:
            return None
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        national = str(example.national_number)
        for _ in range(8):
            digits = national[:2] + "".join(str(self.rng.randint(0, 9)) for _ in national[2:])
            num = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
            if phonenumbers.is_valid_number(num):
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)

    def _title(self, lang: str) -> tuple[str, str, str | None]:
        pool = _TITLES.get(lang) if self.rng.random() < 0.6 else None
        return self.rng.choice(pool or _TITLES["en"])

    def _unique(self, local: str, domain: str) -> str:
        email, n = f"{local}@{domain}", 1
        while email in self.used:
            n += 1
            email = f"{local}{n}@{domain}"
        self.used.add(email)
        return email

    def draw(self, country: str | None = None) -> _Person:
        """Return a new person at a company (8% personal email, 1% competitor, 1.5% students)."""
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            name, domain = rng.choice(self.competitors)
            company = None
            country = country or rng.choice(["FR", "GB", "US", "DE"])
        else:
            company = rng.choices(self.companies, self.weights)[0] if country is None else \
                rng.choice([c for c in self.companies if c.country == country] or self.companies)
            name, domain = company.name, company.domain
            if country is None:
                country = company.country if rng.random() < 0.92 else rng.choice(["FR", "GB", "DE", "US", "BE"])
        first, last, lang = self._name(country)
        title, seniority, department = self._title(lang)
        p = _Person(first, last, "", company, name, country, lang, title, seniority, department, self._phone(country))
        if company is None:
            p.competitor = True
            p.email = self._unique(_local_part(first, last, "first.last"), domain)
        elif r < 0.095 or r > 0.985:  # personal email; the last 1.5% are students
            p.free_email = True
            p.company = None
            p.student = r > 0.985
            if p.student:
                p.title, p.seniority, p.department = _STUDENT_TITLES.get(lang, "Student"), "student", None
                p.company_name = rng.choice(["Université Paris-Saclay", "TU München", "University of Leeds", ""])
            free = rng.choice(_FREE_DOMAINS.get(country, _FREE_DOMAINS["US"]))
            local = _local_part(first, last, "first.last") + (str(rng.randint(70, 99)) if rng.random() < 0.4 else "")
            p.email = self._unique(local, free)
        else:
            name_variant = _strip_legal(company.name) if rng.random() < 0.15 else company.name
            p.company_name = name_variant
            p.email = self._unique(_local_part(first, last, company.email_pattern), domain)
        return p


# --------------------------------------------------------------------------- scoring (the real rules)


def _features(f: dict[str, Any], bounced: bool) -> LeadFeatures:
    """Return what the real scorer reads of a planned lead (its ``leads`` row values)."""
    return LeadFeatures(
        industry=f["industry"], employee_band=f["employee_band"], revenue_band=f["revenue_band"], country=f["country"],
        seniority=f["seniority"], department=f["department"], source=f["source"], job_title=f["job_title"],
        email_domain=f["email_domain"], is_free_email=f["is_free_email"],
        is_disposable_email=f["email_domain"] in DISPOSABLE_EMAIL_DOMAINS, is_competitor=f["is_competitor"],
        do_not_contact=bool(f.get("do_not_contact")), bounced=bounced)


def _score_at(rules: Rules, pl: PlannedLead, at: datetime) -> ScoreResult:
    """Return the lead's score as ``leadops score`` computes it at ``at``, from what happened up to ``at``.

    The same inputs as services/score.py: the arrival as an event of the lead's source, web
    events by outcome, replies to SDR emails (REPLY_OUTCOMES), a bounced email as a negative.
    """
    f = pl.fields
    events = [EngagementEvent(f["source"], f["arrived_at"])]
    bounced = False
    for a in pl.activities:
        if a.occurred_at > at:
            continue
        if a.kind == "web":
            events.append(EngagementEvent(a.outcome, a.occurred_at))
        elif a.kind == "email":
            bounced = bounced or a.outcome == "bounced"
            if a.outcome in REPLY_OUTCOMES:
                events.append(EngagementEvent(REPLY_OUTCOMES[a.outcome], a.occurred_at))
    return score_lead(_features(f, bounced), events, rules.scoring, at)


def _stays_below(ctx: _Ctx, pl: PlannedLead, since: datetime) -> bool:
    """True when scoring would leave the lead under the MQL threshold from ``since`` on: not a
    hand-raiser, and under the threshold at ``since`` and after each of its later engagement
    events. Decay only lowers a score between events, so that covers every instant up to now."""
    if pl.fields["is_hand_raiser"]:
        return False
    instants = [since] + [a.occurred_at for a in pl.activities if since < a.occurred_at <= ctx.cutoff]
    return all(_score_at(ctx.rules, pl, t).total < ctx.rules.scoring.mql_threshold for t in instants)


# --------------------------------------------------------------------------- routing


class _Router:
    """Routes a lead with the real routing rules (first match), choosing among role-"sdr" members."""

    def __init__(self, rules: Rules, rng: random.Random):
        self.rng = rng
        self.rules = rules.routing
        self.people = {p.code: p for p in rules.roster.people}
        self.sdrs = [p for p in rules.roster.people if p.role == "sdr" and p.active]

    def route(self, values: dict[str, Any], account_owner: str | None) -> tuple[str, str, str, list[dict]]:
        """Return (rule name, sdr code, reason, candidates)."""
        for rule in self.rules.rules:
            if rule.to.account_owner:
                if account_owner:
                    p = self.people[account_owner]
                    return rule.name, p.code, f"account owner of {values.get('email_domain')}: {p.name}", [
                        {"sdr": p.code, "ok": True}]
                continue
            if any(values.get(k) not in v for k, v in rule.when.items()):
                continue
            members = [self.people[c] for c in (rule.to.pool and self.rules.pools[rule.to.pool].members or [rule.to.sdr])]
            # weight 0 takes no new lead (as in routing): random.choices would also refuse all-zero weights
            members = [m for m in members if m.role == "sdr" and m.active and m.weight > 0]
            if not members:
                continue
            local = [m for m in members if values.get("country") in m.territories] or members
            chosen = self.rng.choices(local, [m.weight for m in local])[0]
            cands = [{"sdr": m.code, "ok": m in local, **({} if m in local else {"why": "territory"})} for m in members]
            where = f"{values.get('country')} in territory" if values.get("country") in chosen.territories else \
                "no territory match"
            return rule.name, chosen.code, f"{rule.name}: {where}; weighted pick among {len(local)} of " \
                                           f"{len(members)} candidates -> {chosen.name}", cands
        p = self.rng.choice(self.sdrs)
        return "fallback", p.code, f"no rule matched; picked {p.name}", [{"sdr": p.code, "ok": True}]


# --------------------------------------------------------------------------- history simulation


@dataclass
class _Ctx:
    seed: int
    anchor: date
    rng: random.Random
    rules: Rules
    cutoff: datetime
    history_start: datetime
    week_start: datetime
    calendars: dict[str, WorkCalendar]
    people: dict[str, Person]
    n_activity: int = 0

    def key(self) -> str:
        self.n_activity += 1
        return f"seed:{self.seed}:{self.anchor:%Y%m%d}:{self.n_activity:06d}"


def _arrival(ctx: _Ctx, country: str) -> datetime:
    """Return an arrival instant in history: weekdays and office hours weigh more, slight growth."""
    rng = ctx.rng
    days = (ctx.week_start - ctx.history_start).days
    weights = [(0.25 if (ctx.history_start + timedelta(days=i)).astimezone(PARIS).weekday() >= 5 else 1.0)
               * (1 + 0.3 * i / days) for i in range(days)]
    d = (ctx.history_start + timedelta(days=rng.choices(range(days), weights)[0])).astimezone(PARIS).date()
    tz = ZoneInfo(_COUNTRY_TZ.get(country, "Europe/Paris"))
    hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
    t = _utc(d, hour, rng.randint(0, 59), tz)
    return min(max(t, ctx.history_start), ctx.week_start - timedelta(minutes=1))


def _history_event_time(ctx: _Ctx, source: str) -> datetime | None:
    """Trade shows and webinars happen on fixed days; returns an arrival for those or None."""
    rng = ctx.rng
    if source == "trade_show":  # a two-day salon in week -5, visitors scanned 10:00-18:00 Paris
        d = (ctx.history_start + timedelta(days=8 + rng.randint(0, 1))).astimezone(PARIS).date()
        return _utc(d, rng.randint(10, 17), rng.randint(0, 59), PARIS)
    return None


def _webinar_times(ctx: _Ctx) -> list[datetime]:
    """Thursday 11:00 Paris of history weeks 1, 3 and 5 (0-based)."""
    return [_utc((ctx.history_start + timedelta(weeks=w, days=3)).astimezone(PARIS).date(), 11, 0, PARIS)
            for w in (1, 3, 5)]


def _marketing_events(ctx: _Ctx, lead: dict[str, Any], t0: datetime) -> list[PlannedActivity]:
    """Return the lead's marketing engagement (kind "web", no SDR), all before the cutoff."""
    rng = ctx.rng
    out = []
    if lead["source"] == "webinar":
        webinar = next((w for w in _webinar_times(ctx) if w > t0), None)
        if webinar and webinar <= ctx.cutoff and rng.random() < 0.5:
            out.append(PlannedActivity(ctx.key(), "web", "webinar_attended", webinar, detail=lead["campaign"]))
    for outcome, p in _ENGAGEMENT_EVENTS:
        if outcome == "webinar_attended" or (outcome == "white_paper" and lead["source"] == "white_paper"):
            continue
        if lead["source"] == "outbound_list":
            p /= 3
        n = sum(rng.random() < p for _ in range(2))
        for _ in range(n):
            t = t0 + timedelta(hours=rng.expovariate(1 / 100))
            if t <= ctx.cutoff:
                out.append(PlannedActivity(ctx.key(), "web", outcome, t, detail=f"seed {outcome.replace('_', ' ')}"))
    out.sort(key=lambda a: a.occurred_at)
    return out


def _stage(pl: PlannedLead, to: str, at: datetime, cause: str, reason: str | None = None) -> None:
    pl.stages.append(StageChange(pl.stages[-1].to_stage if pl.stages else None, to, at, cause))
    pl.fields["lifecycle_stage"] = to
    pl.fields["stage_changed_at"] = at
    if reason:
        pl.fields["disqualified_reason"] = reason


def _clock(ctx: _Ctx, pl: PlannedLead, start: datetime, cal: WorkCalendar) -> tuple[PlannedClock, datetime]:
    """Return the first-touch clock as the SLA sweep leaves it at the cutoff, and the first-touch
    instant (80% in time; the rest late, before the sweep would reassign the lead at reassign_at).

    The policy is the real one (services/route.policy_for on the lead as routing saw it). Steps the
    sweep would have taken before the cutoff are events: reminder, breach, met; a late touch
    meets the clock late (status met), as the sweep records it.
    """
    rng, sla = ctx.rng, ctx.rules.sla
    policy = policy_for(lead_fields(pl.fields), ctx.rules)
    target = int(policy.first_touch)
    met = rng.random() < 0.8
    offset = target * (rng.uniform(0.05, 0.95) if met else rng.uniform(1.1, 0.98 * sla.reassign_at))
    due = add_business_seconds(cal, start, target)
    touch = add_business_seconds(cal, start, offset)
    events = [("started", start, 0, f"policy {policy.name}, target {target}s")]
    until = min(touch, ctx.cutoff)
    remind = add_business_seconds(cal, start, sla.reminder_at * target)
    if remind <= until and remind < touch:
        events.append(("reminder", remind, round(sla.reminder_at * target), f"{sla.reminder_at:.0%} of target"))
    if due <= until and due < touch:
        events.append(("breach", due, target, "100% of target"))
    if touch <= ctx.cutoff:
        status, met_at, elapsed, evaluated = "met", touch, round(offset), touch
        events.append(("met", touch, elapsed, f"first touch {'late' if offset > target else 'in time'}"))
    elif due <= ctx.cutoff:
        status, met_at, elapsed, evaluated = "breached", None, target, due
    else:
        status, met_at, elapsed, evaluated = "open", None, 0, None
    return PlannedClock(policy.name, target, start, due, status, elapsed, met_at, evaluated, events), touch


_DQ_AT_TOUCH = ["out_of_icp", "no_budget", "not_interested"]


def _touch_outcome(rng: random.Random, kind: str, propensity: float) -> str:
    r = rng.random()
    if kind == "call":
        for outcome, p in (("meeting_booked", 0.035 * propensity), ("disqualified", 0.025), ("connected", 0.16)):
            if r < p:
                return outcome
            r -= p
        return "no_answer"
    if kind == "email":
        for outcome, p in (("meeting_booked", 0.022 * propensity), ("bounced", 0.012), ("replied", 0.07)):
            if r < p:
                return outcome
            r -= p
        return "no_reply"
    return "replied" if r < 0.08 else "sent"


def _work_lead(ctx: _Ctx, pl: PlannedLead, first_touch: datetime, propensity: float) -> None:
    """Simulate the SDR cadence from ``first_touch``: touches, SQL, meetings, SAO, close; stops at cutoff."""
    rng, sdr = ctx.rng, pl.owner
    cal = ctx.calendars[sdr]
    f = pl.fields
    dq = f["industry"] in ("Education", "Public Sector") or f["employee_band"] == "1-10"
    if (dq and rng.random() < 0.7) or (f["is_free_email"] and rng.random() < 0.25):
        pl.activities.append(PlannedActivity(ctx.key(), "call", "disqualified", first_touch, sdr))
        reason = "out_of_icp" if dq else rng.choice(["bad_data", "duplicate"])
        _stage(pl, "disqualified", first_touch, f"seed: SDR disqualified at first touch ({reason})", reason)
        return
    _stage(pl, "sal", first_touch, "seed: SDR accepted")
    t = first_touch
    for i in range(rng.randint(4, 8)):
        if i:
            t = add_business_seconds(cal, t, 8 * 3600 * rng.uniform(0.5, 3.0))
        if t > ctx.cutoff:
            return
        kind = rng.choices(["call", "email", "linkedin"], [0.45, 0.4, 0.15])[0]
        outcome = _touch_outcome(rng, kind, propensity)
        pl.activities.append(PlannedActivity(ctx.key(), kind, outcome, t, sdr))
        if outcome in ("connected", "replied") and f["lifecycle_stage"] != "sql" and rng.random() < 0.35:
            _stage(pl, "sql", t, "seed: SDR qualified after a conversation")
        elif outcome == "disqualified":
            reason = rng.choice(_DQ_AT_TOUCH)
            _stage(pl, "disqualified", t, f"seed: SDR disqualified on call ({reason})", reason)
            return
        elif outcome == "bounced":
            _stage(pl, "disqualified", t, "seed: email bounced", "bad_data")
            return
        elif outcome == "meeting_booked":
            if f["lifecycle_stage"] != "sql":
                _stage(pl, "sql", t, "seed: meeting booked")
            _meetings(ctx, pl, t)
            return
    end = add_business_seconds(cal, t, 8 * 3600 * rng.uniform(1, 3))
    if end <= ctx.cutoff:
        r = rng.random()
        if r < 0.5:
            _park(ctx, pl, end, "seed: cadence finished without reply")
        else:
            reason = "not_interested" if r < 0.8 else "no_budget"
            _stage(pl, "disqualified", end, f"seed: SDR closed after cadence ({reason})", reason)


def _park(ctx: _Ctx, pl: PlannedLead, at: datetime, cause: str) -> None:
    """The SDR hands the lead back to marketing (nurture) when scoring would keep it there;
    otherwise (a hand-raiser, or a score at or over the MQL threshold) the next scoring pass
    would make it an MQL again at once, so the SDR closes it as not interested instead."""
    if _stays_below(ctx, pl, at):
        _stage(pl, "nurture", at, cause)
    else:
        _stage(pl, "disqualified", at, f"{cause}; closed as not interested (its score keeps it an MQL)",
               "not_interested")


def _meetings(ctx: _Ctx, pl: PlannedLead, booked: datetime) -> None:
    """Book a meeting (and one reschedule after a no-show); a held one may become an SAO."""
    rng, sdr = ctx.rng, pl.owner
    cal = ctx.calendars[sdr]
    for attempt in range(2):
        when = add_business_seconds(cal, booked, 8 * 3600 * rng.uniform(1.5, 8))
        when = when.replace(minute=(when.minute // 30) * 30, second=0)
        if when > ctx.cutoff:
            outcome = "scheduled"
        else:
            outcome = "held" if rng.random() < 0.8 else "no_show"
        ae = ctx.people[sdr].paired_ae
        pl.activities.append(PlannedActivity(ctx.key(), "meeting", outcome, booked, sdr, scheduled_for=when,
                                             detail=f"discovery call with {ctx.people[ae].name if ae else 'AE'}"))
        if outcome == "scheduled":
            return
        if outcome == "held":
            _sao(ctx, pl, when)
            return
        booked = add_business_seconds(cal, when, 8 * 3600 * rng.uniform(0.2, 2))  # rebook after the no-show
        if booked > ctx.cutoff or rng.random() < 0.5:
            return
        pl.activities.append(PlannedActivity(ctx.key(), "email", "meeting_booked", booked, sdr,
                                             detail="rebooked after no-show"))


def _sao(ctx: _Ctx, pl: PlannedLead, held: datetime) -> None:
    """~30% of held meetings become an opportunity; old enough ones may be won or lost."""
    rng, f = ctx.rng, pl.fields
    ae = ctx.people[pl.owner].paired_ae
    created = held + timedelta(hours=rng.uniform(2, 48))
    if rng.random() >= 0.30 or created > ctx.cutoff:
        if rng.random() < 0.3 and created <= ctx.cutoff:
            _park(ctx, pl, created, "seed: AE rejected the meeting (SRL)")
        return
    size = {"1-10": 0.3, "11-50": 0.5, "51-200": 0.8, "201-1000": 1.2, "1001-5000": 1.8, "5001+": 2.2}
    amount = min(120_000, max(5_000, rng.lognormvariate(9.9, 0.6) * size.get(f["employee_band"], 0.8)))
    amount = round(amount / 500) * 500
    _stage(pl, "opportunity", created, "seed: AE accepted the meeting (SAO)")
    close = created + timedelta(days=rng.uniform(7, 35))
    stage, closed_at = "open", None
    if close <= ctx.cutoff and rng.random() < 0.75:
        stage, closed_at = ("won" if rng.random() < 0.45 else "lost"), close
        _stage(pl, stage, close, f"seed: opportunity {stage}")
    pl.opportunity = PlannedOpportunity(pl.owner, ae, created, stage, float(amount), closed_at)


def _lead_fields(ctx: _Ctx, p: _Person, source: str, t0: datetime) -> dict[str, Any]:
    """Return the leads-row values of a new history lead (stage new, scores filled later)."""
    c = p.company
    domain = p.email.split("@")[1]
    enriched = c is not None and c.listed
    return {
        "email": p.email, "email_domain": domain, "first_name": p.first, "last_name": p.last,
        "company": p.company_name or None, "company_key": company_key(p.company_name) if p.company_name else None,
        "job_title": p.title, "seniority": p.seniority, "department": p.department, "phone": p.phone,
        "country": p.country, "language": p.language, "source": source,
        "campaign": ctx.rng.choice(_CAMPAIGNS[source]), "is_free_email": p.free_email,
        "is_competitor": p.competitor, "is_hand_raiser": source in ctx.rules.scoring.hand_raiser_sources,
        "lifecycle_stage": "new", "stage_changed_at": t0, "disqualified_reason": None,
        "industry": c.industry if enriched else None, "employee_count": c.employee_count if enriched else None,
        "employee_band": c.employee_band if enriched else None, "revenue_band": c.revenue_band if enriched else None,
        "enrichment_status": "enriched" if enriched else "skipped" if c is None else "miss",
        "enriched_at": t0 + timedelta(minutes=ctx.rng.randint(2, 9)),
        "routing_status": None, "arrived_at": t0, "created_at": t0, "grade": None,
    }


def _nurture_unrouted(ctx: _Ctx, pl: PlannedLead) -> None:
    """Apply scoring's nurture rule to a lead that never became an MQL (so it has no owner).

    Scoring sends an unowned lead under the threshold to nurture once it has had no touch for
    ``nurture_after_days``; the move is dated when that happens. A lead reaching that age on the
    anchor day itself is nurtured at the cutoff: `leadops score --all` run that day (right
    after `make demo`) would move it otherwise, and the sample is meant to agree with scoring.
    """
    sc = ctx.rules.scoring
    last_touch = max([pl.fields["arrived_at"]] + [a.occurred_at for a in pl.activities])
    stale = last_touch + timedelta(days=sc.nurture_after_days)
    day_end = datetime.combine(ctx.anchor + timedelta(days=1), time.min, PARIS).astimezone(UTC)
    if stale >= day_end:
        return
    at = min(stale, ctx.cutoff)
    total = _score_at(ctx.rules, pl, at).total
    cause = f"score {total:g} under the MQL threshold {sc.mql_threshold:g} and no touch for {sc.nurture_after_days:g} days"
    _stage(pl, "nurture", at, cause if stale <= ctx.cutoff else f"seed: {cause} by the end of {ctx.anchor}")


def _simulate(ctx: _Ctx, pl: PlannedLead, route: Any) -> None:
    """Run one history lead through the funnel up to the cutoff, with the real scoring rules.

    Intake, enrichment and the first scoring pass happen together (``enriched_at``); the lead
    is scored again after each engagement event, and becomes an MQL (then is routed, gets an
    SLA clock and is worked by its SDR) when scoring would promote it: a hand-raiser at once,
    any other lead when its score reaches the MQL threshold. ``route(pl, at)`` assigns it.
    """
    rng, f, sc = ctx.rng, pl.fields, ctx.rules.scoring
    t0 = f["arrived_at"]
    first = f["enriched_at"]
    _stage(pl, "new", t0, f"seed: lead created from {f['source']}")
    if f["is_competitor"]:
        _stage(pl, "disqualified", first, "seed: competitor domain", "competitor")
        return
    if f["job_title"] in _STUDENT_TITLES.values():
        _stage(pl, "disqualified", first, "seed: student", "student")
        return
    instants = [first] + [a.occurred_at for a in pl.activities if first < a.occurred_at <= ctx.cutoff]
    crossed = first if f["is_hand_raiser"] else \
        next((t for t in instants if _score_at(ctx.rules, pl, t).total >= sc.mql_threshold), None)
    if crossed is None:
        _nurture_unrouted(ctx, pl)
        return
    result = _score_at(ctx.rules, pl, crossed)
    mql_at = crossed + timedelta(minutes=rng.randint(1, 5))
    _stage(pl, "mql", mql_at, "seed: hand-raiser fast-track (demo or contact-sales request)" if f["is_hand_raiser"]
           else f"seed: score {result.total:g} crossed the MQL threshold {sc.mql_threshold:g}")
    f["grade"] = result.grade  # as routing and the SLA policy see the lead
    assigned = route(pl, mql_at + timedelta(minutes=rng.randint(1, 3)))
    cal = ctx.calendars[pl.owner]
    pl.clock, touch = _clock(ctx, pl, assigned, cal)
    if touch <= ctx.cutoff:
        propensity = 2.2 if f["is_hand_raiser"] else 0.6 if f["source"] == "outbound_list" else \
            1.0 + result.fit / 100
        _work_lead(ctx, pl, touch, propensity)


def _history(ctx: _Ctx, people: _People, n: int) -> tuple[list[PlannedLead], list[PlannedAccount]]:
    """Return ``n`` history leads (sorted by arrival) and the accounts of their company domains."""
    rng = ctx.rng
    router = _Router(ctx.rules, rng)
    drafts = []
    for _ in range(n):
        source = rng.choices(list(_SOURCE_WEIGHTS), list(_SOURCE_WEIGHTS.values()))[0]
        p = people.draw()
        t0 = _history_event_time(ctx, source) or _arrival(ctx, p.country)
        drafts.append((t0, p, source))
    drafts.sort(key=lambda d: (d[0], d[1].email))
    accounts: dict[str, PlannedAccount] = {}
    owner_decided: set[str] = set()
    leads = []

    def route(pl: PlannedLead, at: datetime) -> datetime:
        """Assign an MQL (routing takes only MQLs); the first routed lead of an account may make
        its SDR the account owner. Returns the assignment instant."""
        acct = accounts.get(pl.account_domain) if pl.account_domain else None
        rule, sdr, reason, cands = router.route(pl.fields, acct.owner if acct else None)
        if acct is not None and acct.domain not in owner_decided:
            owner_decided.add(acct.domain)
            acct.owner = sdr if rng.random() < 0.5 else None
        pl.owner = sdr
        pl.assignment = PlannedAssignment(sdr, rule, reason, cands, at)
        pl.fields["routing_status"] = "assigned"
        return at

    for t0, p, source in drafts:
        fields = _lead_fields(ctx, p, source, t0)
        if p.company is not None and p.company.domain not in accounts:
            accounts[p.company.domain] = PlannedAccount(p.company.domain, p.company.name, company_key(p.company.name),
                                                        None, t0)
        pl = PlannedLead(fields, None, p.company.domain if p.company is not None else None)
        pl.activities = _marketing_events(ctx, fields, t0)
        _simulate(ctx, pl, route)
        # History was scored after everything it holds happened, so the pipeline's incremental
        # scoring leaves it alone until something new happens to the lead; its stored score is
        # the real scorer's at that instant.
        last = max([fields["enriched_at"], fields["stage_changed_at"]] + [a.occurred_at for a in pl.activities])
        fields["scored_at"] = min(last + timedelta(minutes=5), max(last, ctx.cutoff))
        result = _score_at(ctx.rules, pl, fields["scored_at"])
        fields.update(fit_score=result.fit, engagement_score=result.engagement, score=result.total,
                      grade=result.grade, score_version=_score_version(ctx.rules))
        fields["updated_at"] = max([fields["stage_changed_at"], fields["scored_at"]]
                                   + [a.occurred_at for a in pl.activities])
        leads.append(pl)
    return leads, list(accounts.values())


def _score_version(rules: Rules) -> str:
    """The version history leads are scored with: scoring.yaml's, unless the learned model is blended
    in (the seed scores with the rules only, so it does not claim the blended version)."""
    return SEED_SCORE_VERSION if rules.scoring.model.enabled else rules.scoring.version


# --------------------------------------------------------------------------- inbox files


def _csv_bytes(header: list[str], rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8",
               bom: bool = False) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _cp1252_safe(text: str) -> str:
    """Return ``text`` encodable in Windows-1252 (badge scanners drop what they cannot print)."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        return "".join(c if c.encode("cp1252", "ignore") else ascii_fold(c) for c in text)


def _inbox_time(ctx: _Ctx) -> datetime:
    """Return an arrival instant in the current week before 08:00 Paris on the anchor day."""
    rng, end = ctx.rng, ctx.cutoff + timedelta(hours=8)
    days = (end - ctx.week_start).days + 1
    while True:  # office hours weigh more; redraw what falls after the end
        t = ctx.week_start + timedelta(days=rng.randrange(days), minutes=rng.randint(0, 59),
                                       hours=rng.choices(range(24), _HOUR_WEIGHTS)[0])
        if t < end:
            return t


def _country_text(rng: random.Random, code: str, french: bool) -> str:
    names = _FRENCH_COUNTRIES if french else _ENGLISH_COUNTRIES
    r = rng.random()
    if french or r < 0.55:
        return names[code]
    return code if r < 0.85 else code.lower() if r < 0.92 else {"GB": "UK", "US": "USA"}.get(code, names[code].upper())


def _national_phone(phone: str | None) -> str:
    """Return the phone as an office would type it (national format, with spaces)."""
    if not phone:
        return ""
    num = phonenumbers.parse(phone)
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)


def _inbox(ctx: _Ctx, people: _People, n: int, history: list[PlannedLead]) -> list[InboxFile]:
    """Return the six inbox files of the current week: ``n`` new people plus dirt and duplicates."""
    rng = ctx.rng
    shares = {"webform": 0.25, "demo": 0.12, "salon": 0.20, "webinar": 0.15, "outbound": 0.18, "whitepaper": 0.10}
    counts = {k: int(n * v) for k, v in shares.items()}
    counts["webform"] += n - sum(counts.values())
    salon_day = max(ctx.week_start, ctx.cutoff - timedelta(days=1)).astimezone(PARIS).date()
    # per file: list of (person, arrival, kind, note)
    rows: dict[str, list[list[Any]]] = {k: [] for k in shares}
    for k, m in counts.items():
        for _ in range(m):
            p = people.draw(rng.choice(["FR", "FR", "FR", "BE", "CH", "LU", "DE", "ES", "IT", "NL"])
                            if k == "salon" else None)
            rows[k].append([p, _inbox_time(ctx), "new", ""])
    # duplicates inside the inbox: the same person in a second file with different email casing
    for src, dst in [("webform", "webinar"), ("webinar", "whitepaper"), ("salon", "webform"), ("demo", "webform"),
                     ("webform", "demo"), ("outbound", "webinar"), ("whitepaper", "webform"), ("salon", "demo")]:
        p = rows[src][rng.randrange(len(rows[src]))][0]
        local, domain = p.email.split("@")
        twin = _Person(**{**p.__dict__, "email": f"{local.title()}@{domain.upper()}"})
        rows[dst].append([twin, _inbox_time(ctx), "dup_inbox", p.email])
    # returning history leads (their email must merge into the existing lead)
    returning = [pl for pl in history if pl.fields["lifecycle_stage"] in ("new", "nurture", "mql")]
    for dst in ["webinar", "whitepaper", "webform", "demo", "webinar", "whitepaper"]:
        pl = returning[rng.randrange(len(returning))]
        f = pl.fields
        email = f["email"] if rng.random() < 0.5 else f["email"].upper()
        p = _Person(f["first_name"], f["last_name"], email, None, f["company"] or "", f["country"], f["language"],
                    f["job_title"], f["seniority"], f["department"], f["phone"])
        rows[dst].append([p, _inbox_time(ctx), "dup_history", f["email"]])
    for k in rows:
        rows[k].sort(key=lambda r: r[1])
    _add_dirt(ctx, people, rows)
    stamp = ctx.anchor.strftime("%Y%m%d")
    return [
        _webform_file(ctx, f"webform-{stamp}.csv", rows["webform"]),
        _demo_file(ctx, f"demo-requests-{stamp}.csv", rows["demo"]),
        _salon_file(ctx, f"salon-{stamp}.csv", rows["salon"], salon_day),
        _webinar_file(ctx, f"webinar-{stamp}.jsonl", rows["webinar"]),
        _outbound_file(ctx, f"outbound-{stamp}.csv", rows["outbound"]),
        _whitepaper_file(ctx, f"whitepaper-{stamp}.csv", rows["whitepaper"]),
    ]


def _add_dirt(ctx: _Ctx, people: _People, rows: dict[str, list[list[Any]]]) -> None:
    """Insert the dirty rows (~5%): bad or missing emails, unknown country, caps, spaces, injections."""
    rng = ctx.rng

    def dirty(file: str, note: str, email: str | None = None, **changes: Any) -> None:
        p = people.draw()
        p = _Person(**{**p.__dict__, **({"email": email} if email is not None else {}), **changes})
        rows[file].insert(rng.randrange(len(rows[file]) + 1), [p, _inbox_time(ctx), "dirty", note])

    dirty("webform", "missing email", "")
    dirty("webform", "invalid email", "jean.dupont@", first="Jean", last="Dupont")
    dirty("salon", "invalid email", "marie@@acme.fr", first="Marie", last="Lefèvre")
    dirty("outbound", "invalid email", "pas un email")
    dirty("webinar", "disposable domain", "test.lead@yopmail.com")
    dirty("demo", "disposable domain", "free.trial@mailinator.com")
    dirty("webform", "unknown country", country="Narnia")
    for _ in range(2):
        p = people.draw(rng.choice(["FR", "BE"]))
        caps = _Person(**{**p.__dict__, "first": p.first.upper(), "last": p.last.upper(),
                          "company_name": p.company_name.upper()})
        rows["salon"].insert(rng.randrange(len(rows["salon"]) + 1), [caps, _inbox_time(ctx), "dirty", "all caps"])
    p = people.draw()
    spaced = _Person(**{**p.__dict__, "first": f"  {p.first} ", "last": f"{p.last}  ", "email": f" {p.email}  "})
    rows["outbound"].insert(rng.randrange(len(rows["outbound"]) + 1), [spaced, _inbox_time(ctx), "dirty", "spaces"])
    dirty("whitepaper", "formula injection", company_name='=HYPERLINK("http://x")')
    dirty("webform", "script in title", title="<script>alert(1)</script>")
    dirty("webform", "missing email", "", first="Anonymous", last="")


def _rows_meta(rows: list[list[Any]]) -> tuple[InboxRow, ...]:
    return tuple(InboxRow(p.email, kind, note) for p, _, kind, note in rows)


def _iso_local(t: datetime, country: str) -> str:
    return t.astimezone(ZoneInfo(_COUNTRY_TZ.get(country, "Europe/Paris"))).isoformat(timespec="seconds")


def _country_code(p: _Person) -> str:
    return p.country if p.country in _ENGLISH_COUNTRIES else ""


def _country_field(rng: random.Random, p: _Person, french: bool) -> str:
    return _country_text(rng, p.country, french) if _country_code(p) else p.country


def _webform_file(ctx: _Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """webform-*.csv: UTF-8, comma, English headers, local ISO timestamps with offset."""
    header = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Source", "Created At"]
    data = [[p.email, p.first, p.last, p.company_name, p.title, p.phone or "",
             _country_field(ctx.rng, p, False), "web_form", _iso_local(t, _country_code(p))] for p, t, *_ in rows]
    return InboxFile(name, "utf-8", _csv_bytes(header, data), _rows_meta(rows))


def _demo_file(ctx: _Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """demo-requests-*.csv: UTF-8 with BOM, English headers, UTC timestamps; demo_request or contact_sales."""
    header = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Source", "Created At"]
    data = [[p.email, p.first, p.last, p.company_name, p.title, p.phone or "", _country_field(ctx.rng, p, False),
             "demo_request" if ctx.rng.random() < 0.65 else "contact_sales", t.strftime("%Y-%m-%dT%H:%M:%SZ")]
            for p, t, *_ in rows]
    return InboxFile(name, "utf-8-sig", _csv_bytes(header, data, bom=True), _rows_meta(rows))


def _salon_file(ctx: _Ctx, name: str, rows: list[list[Any]], day: date) -> InboxFile:
    """salon-*.csv: Windows-1252, semicolons, French headers and country names, dd/mm/yyyy dates."""
    header = ["Courriel", "Prénom", "Nom", "Société", "Fonction", "Pays", "Téléphone", "Date"]
    data = []
    for i, (p, _t, *_) in enumerate(rows):
        company = p.company_name
        if i == 3:
            company = "Conseil & Data; Groupe Horizon"  # a quoted semicolon
        data.append([_cp1252_safe(v) for v in (
            p.email, p.first, p.last, company, p.title, _country_field(ctx.rng, p, True),
            _national_phone(p.phone) if _country_code(p) else "", day.strftime("%d/%m/%Y"))])
    return InboxFile(name, "cp1252", _csv_bytes(header, data, delimiter=";", encoding="cp1252"), _rows_meta(rows))


def _webinar_file(ctx: _Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """webinar-*.jsonl: one JSON object per line (UTC ISO created_at) and one garbage line."""
    lines = [json.dumps({"email": p.email, "first_name": p.first, "last_name": p.last, "company": p.company_name,
                         "job_title": p.title, "country": _country_field(ctx.rng, p, False),
                         "created_at": t.isoformat(timespec="seconds")}, ensure_ascii=False) for p, t, *_ in rows]
    lines.insert(len(lines) // 2, '{"email": "broken@example.com", "first_name": "Half a line')
    return InboxFile(name, "utf-8", ("\n".join(lines) + "\n").encode("utf-8"), _rows_meta(rows))


def _outbound_file(ctx: _Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """outbound-*.csv: tab-delimited purchased list with French headers and no dates."""
    header = ["E-mail", "Prénom", "Nom", "Entreprise", "Poste", "Pays"]
    data = [[p.email, p.first, p.last, p.company_name, p.title, _country_field(ctx.rng, p, True)]
            for p, *_ in rows]
    return InboxFile(name, "utf-8", _csv_bytes(header, data, delimiter="\t"), _rows_meta(rows))


def _whitepaper_file(ctx: _Ctx, name: str, rows: list[list[Any]]) -> InboxFile:
    """whitepaper-*.csv: UTF-8 comma; one job title holds a quoted embedded newline."""
    header = ["Email", "First Name", "Last Name", "Company", "Job Title", "Country", "Source", "Campaign",
              "Created At"]
    data = []
    for i, (p, t, *_) in enumerate(rows):
        title = "Head of Data\nEMEA" if i == 2 else p.title
        data.append([p.email, p.first, p.last, p.company_name, title, _country_field(ctx.rng, p, False),
                     "white_paper", _CAMPAIGNS["white_paper"][i % 2], _iso_local(t, _country_code(p))])
    return InboxFile(name, "utf-8", _csv_bytes(header, data), _rows_meta(rows))


_EXPORT_EVENTS = [("Visite page tarifs", "/tarifs"), ("Clic email", "Newsletter novembre"),
                  ("Webinar attended", "Webinar: routing des leads"), ("Réponse", ""), ("Livre blanc", "Guide RevOps")]


def _events_file(ctx: _Ctx, people: _People, history: list[PlannedLead], n: int = 40) -> InboxFile:
    """events-*.csv: a marketing-automation export (cp1252, semicolons, French headers) of
    engagement by known leads this week, plus two events of people who are not leads yet and
    one unsubscribe (not a scoring event): those three end in quarantine."""
    rng = ctx.rng
    start = min(ctx.week_start, ctx.cutoff - timedelta(days=7))
    span = int((ctx.cutoff - start).total_seconds() // 60)
    engaged = [pl for pl in history if pl.fields["lifecycle_stage"] in ("new", "nurture", "mql", "sql")]
    rows: list[list[Any]] = []
    for i in range(n):
        pl = engaged[rng.randrange(len(engaged))]
        label, detail = _EXPORT_EVENTS[rng.randrange(len(_EXPORT_EVENTS))]
        rows.append([pl.fields["email"], label, start + timedelta(minutes=rng.randrange(span)), detail, "event", ""])
    for _ in range(2):
        p = people.draw()
        rows.append([p.email, "Visite page tarifs", start + timedelta(minutes=rng.randrange(span)), "/tarifs",
                     "unknown_lead", "not a lead yet"])
    pl = engaged[rng.randrange(len(engaged))]
    rows.append([pl.fields["email"], "Désinscription", start + timedelta(minutes=rng.randrange(span)), "", "unknown_event",
                 "unsubscribe is not a scoring event"])
    rows.sort(key=lambda r: r[2])
    stamp = ctx.anchor.strftime("%Y%m%d")
    data = [[email, label, t.astimezone(PARIS).strftime("%Y-%m-%d %H:%M"), detail, f"evt-{ctx.seed}-{stamp}-{i}"]
            for i, (email, label, t, detail, *_) in enumerate(rows)]
    meta = tuple(InboxRow(r[0], r[4], r[5]) for r in rows)
    return InboxFile(f"events-{stamp}.csv", "cp1252",
                     _csv_bytes(["Courriel", "Événement", "Horodatage", "Page", "Id"], data, delimiter=";",
                                encoding="cp1252"), meta)


# --------------------------------------------------------------------------- generate


def week_bounds(anchor: date) -> tuple[datetime, datetime, datetime]:
    """Return (history_start, week_start, cutoff) in UTC for ``anchor`` (Europe/Paris weeks)."""
    monday = anchor - timedelta(days=anchor.weekday())
    week_start = datetime.combine(monday, time.min, PARIS).astimezone(UTC)
    history_start = datetime.combine(monday - timedelta(weeks=HISTORY_WEEKS), time.min, PARIS).astimezone(UTC)
    cutoff = datetime.combine(anchor, time.min, PARIS).astimezone(UTC)
    return history_start, week_start, cutoff


def generate(seed: int, anchor: date, rules: Rules, n_leads: int = 2000) -> SeedPlan:
    """Return the whole seed as data: ~85% history leads, ~15% current-week inbox rows. No IO.

    Deterministic: depends only on ``seed``, ``anchor``, ``n_leads`` and the rule files.
    """
    rng = random.Random(seed)
    history_start, week_start, cutoff = week_bounds(anchor)
    people = {p.code: p for p in rules.roster.people}
    ctx = _Ctx(seed, anchor, rng, rules, cutoff, history_start, week_start,
               {c: _calendar(p) for c, p in people.items()}, people)
    comps = companies()
    pool = _People(rng, comps, rules.scoring.competitor_domains)
    n_history = round(n_leads * HISTORY_SHARE)
    leads, accounts = _history(ctx, pool, n_history)
    inbox = _inbox(ctx, pool, n_leads - n_history, leads)
    events = [_events_file(ctx, pool, leads)]  # drawn last: the rest of the plan does not depend on it
    return SeedPlan(seed, anchor, week_start, history_start, cutoff, comps, accounts, leads, inbox, events)


# --------------------------------------------------------------------------- writing


def write_inbox_files(plan: SeedPlan, inbox_dir: Path | str, ingested: set[str] | frozenset[str] = frozenset()
                      ) -> list[Path]:
    """Write the plan's inbox files (exact bytes) into ``inbox_dir``; returns the paths written.

    A file whose SHA-256 is in ``ingested`` (content hashes of ingest batches) is not written:
    the pipeline would only find it ingested before and file it in var/processed once more.
    """
    inbox_dir = Path(inbox_dir)
    inbox_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in [*plan.inbox_files, *plan.activity_files]:
        if hashlib.sha256(f.content).hexdigest() in ingested:
            continue
        path = inbox_dir / f.name
        path.write_bytes(f.content)
        paths.append(path)
    return paths


def ingested_hashes(session: Session) -> set[str]:
    """Return the content hashes of the files ingested before (ingest batches not rejected: a
    rejected file is retried when it lands again)."""
    from leadops.db.models import IngestBatch

    return set(session.scalars(select(IngestBatch.content_hash).where(IngestBatch.status != "rejected")))


def _insert(session: Session, model: type, rows: list[dict[str, Any]]) -> int:
    if rows:
        session.execute(insert(model), rows)
    return len(rows)


def write_history(session: Session, plan: SeedPlan, rules: Rules) -> dict[str, int]:
    """Write the plan's history into the database; returns rows inserted per table.

    Idempotent: leads already present (by email) are skipped with everything hanging off
    them; accounts are inserted by domain when missing. Does not commit.
    """
    from leadops.db.models import (
        Account, Activity, Assignment, Lead, LeadStageChange, Opportunity, SlaClock, SlaEvent,
    )
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster

    ids = apply_roster(SqlUnitOfWork.around(session), rules.roster)
    counts: dict[str, int] = {"sdrs": len(ids)}
    have_domains = set(session.scalars(select(Account.domain)))
    counts["accounts"] = _insert(session, Account, [
        {"domain": a.domain, "name": a.name, "name_key": a.name_key, "owner_sdr_id": ids[a.owner] if a.owner else None,
         "created_at": a.created_at} for a in plan.accounts if a.domain not in have_domains])
    account_ids = dict(session.execute(select(Account.domain, Account.id)).tuples().all())
    have_emails = set(session.scalars(select(Lead.email)))
    new = [pl for pl in plan.leads if pl.email not in have_emails]
    counts["leads"] = _insert(session, Lead, [
        {**pl.fields, "owner_sdr_id": ids[pl.owner] if pl.owner else None,
         "account_id": account_ids.get(pl.account_domain) if pl.account_domain else None} for pl in new])
    emails = [pl.email for pl in new]
    lead_ids: dict[str, int] = {}
    for i in range(0, len(emails), 500):
        lead_ids.update(session.execute(select(Lead.email, Lead.id).where(Lead.email.in_(emails[i:i + 500]))).tuples().all())
    counts["lead_stage_history"] = _insert(session, LeadStageChange, [
        {"lead_id": lead_ids[pl.email], "from_stage": s.from_stage, "to_stage": s.to_stage, "cause": s.cause,
         "changed_at": s.at} for pl in new for s in pl.stages])
    counts["assignments"] = _insert(session, Assignment, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[a.sdr], "ae_id": None, "kind": "initial", "status": "assigned",
         "rule": a.rule, "reason": a.reason, "candidates": a.candidates, "active": True, "assigned_at": a.assigned_at}
        for pl in new if (a := pl.assignment)])
    assignment_ids = dict(session.execute(
        select(Assignment.lead_id, Assignment.id).where(Assignment.active, Assignment.lead_id.in_(lead_ids.values()))
    ).tuples().all()) if lead_ids else {}
    clocked = [pl for pl in new if pl.clock]
    counts["sla_clocks"] = _insert(session, SlaClock, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[pl.owner], "assignment_id": assignment_ids[lead_ids[pl.email]],
         "policy": c.policy, "kind": "first_touch", "target_seconds": c.target_seconds, "started_at": c.started_at,
         "due_at": c.due_at, "status": c.status, "elapsed_seconds": c.elapsed_seconds, "met_at": c.met_at,
         "evaluated_at": c.evaluated_at} for pl in clocked if (c := pl.clock)])
    clock_ids = dict(session.execute(
        select(SlaClock.assignment_id, SlaClock.id).where(SlaClock.assignment_id.in_(assignment_ids.values()))
    ).tuples().all()) if assignment_ids else {}
    counts["sla_events"] = _insert(session, SlaEvent, [
        {"clock_id": clock_ids[assignment_ids[lead_ids[pl.email]]], "step": step, "at": at, "elapsed_seconds": el,
         "detail": detail} for pl in clocked for step, at, el, detail in pl.clock.events])
    have_keys = set(session.scalars(select(Activity.external_key).where(Activity.external_key.like(
        f"seed:{plan.seed}:%"))))
    counts["activities"] = _insert(session, Activity, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[a.sdr] if a.sdr else None, "kind": a.kind, "outcome": a.outcome,
         "occurred_at": a.occurred_at, "scheduled_for": a.scheduled_for, "detail": a.detail,
         "external_key": a.external_key} for pl in new for a in pl.activities if a.external_key not in have_keys])
    counts["opportunities"] = _insert(session, Opportunity, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[o.sdr], "ae_id": ids[o.ae] if o.ae else None,
         "created_at": o.created_at, "stage": o.stage, "amount": o.amount, "closed_at": o.closed_at}
        for pl in new if (o := pl.opportunity)])
    session.flush()
    return counts


def summarize(plan: SeedPlan) -> dict[str, Any]:
    """Return plan-level counts (independent of what was already in the database)."""
    acts = [a for pl in plan.leads for a in pl.activities]
    opps = [pl.opportunity for pl in plan.leads if pl.opportunity]
    rows = [r for f in plan.inbox_files for r in f.rows]
    kinds = Counter(r.kind for r in rows)
    last_week = plan.week_start - timedelta(weeks=1)
    return {
        "seed": plan.seed, "anchor": plan.anchor.isoformat(), "week_start": plan.week_start.isoformat(),
        "history_leads": len(plan.leads), "accounts": len(plan.accounts),
        "sdrs_owning_leads": len({pl.owner for pl in plan.leads if pl.owner}),
        "stages": dict(sorted(Counter(pl.fields["lifecycle_stage"] for pl in plan.leads).items())),
        "activities": len(acts), "sdr_activities": sum(a.sdr is not None for a in acts),
        "activities_last_week": sum(last_week <= a.occurred_at < plan.week_start for a in acts),
        "activities_current_week": sum(a.occurred_at >= plan.week_start for a in acts),
        "meetings": sum(a.kind == "meeting" for a in acts),
        "future_meetings": sum(a.kind == "meeting" and a.outcome == "scheduled" for a in acts),
        "opportunities": len(opps), "won": sum(o.stage == "won" for o in opps),
        "revenue_won": sum(o.amount for o in opps if o.stage == "won"),
        "sla_clocks": sum(pl.clock is not None for pl in plan.leads),
        "inbox_files": len(plan.inbox_files), "inbox_rows": len(rows),
        "inbox_new": kinds["new"], "inbox_dirty": kinds["dirty"], "inbox_duplicates": kinds["dup_inbox"],
        "inbox_history_duplicates": kinds["dup_history"],
        "activity_export_rows": sum(len(f.rows) for f in plan.activity_files),
    }


def seed(session: Session, rules: Rules, inbox_dir: Path | str, seed: int = 42, anchor: date | None = None,
         n_leads: int = 2000) -> dict[str, Any]:
    """Generate and write the seed (history rows + inbox files); returns a summary dict.

    ``anchor`` defaults to today in Europe/Paris. ``inserted`` holds rows actually inserted
    this run (all zeros on a re-run); ``inbox_paths`` the files written, ``inbox_already_ingested``
    the names of those left out because the pipeline ingested them before. The caller commits.
    """
    anchor = anchor or datetime.now(PARIS).date()
    plan = generate(seed, anchor, rules, n_leads)
    inserted = write_history(session, plan, rules)
    paths = write_inbox_files(plan, inbox_dir, ingested_hashes(session))
    written = {p.name for p in paths}
    return {**summarize(plan), "sdrs": inserted["sdrs"], "inserted": inserted,
            "inbox_paths": [str(p) for p in paths],
            "inbox_already_ingested": [f.name for f in [*plan.inbox_files, *plan.activity_files]
                                       if f.name not in written]}

