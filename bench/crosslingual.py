"""Cross-lingual retrieval sets: English questions over Spanish, French and German files.

- Business files (written for this bench, committed here): an invoice, a warehouse lease, a
  safety committee's minutes and an expense policy in Spanish; an employment contract, sales
  meeting minutes and a returns procedure in French; a framework supply agreement, a forklift
  operating instruction, a payment reminder and an IT security policy in German. The English
  office files of `retrieval_corpora.office_files()` are ingested beside them as distractors,
  as in a real mixed-language knowledge base (none of the questions is about them). 33
  English questions, paraphrased, few sharing a name or figure with the answer; a hit is a
  passage of the right file.
- Vim tutor (real translated text): Vim's own tutorial in Spanish, French and German, read
  from the `vim-runtime` package (`/usr/share/vim/vim*/tutor/tutor.{es,fr,de}.utf-8`), each
  lesson made a Markdown section. 21 English questions, each answered by one lesson; a hit
  is a passage, in any of the three languages, of that lesson. Left out (with the reason
  printed) where the package is not installed.

Both go through the whole ingestion pipeline like `retrieval_corpora`'s sets.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from retrieval_corpora import RetrievalSet, _docx, _eml, _html, _relevant, office_files

from knowledge.documents import Passage
from knowledge.ingest import Upload


def _md(title: str, sections: list[tuple[str, str]]) -> bytes:
    body = "\n\n".join(f"## {heading}\n\n{text}" for heading, text in sections)
    return f"# {title}\n\n{body}\n".encode()


def _business_files() -> list[Upload]:
    return [
        Upload("factura-2025-0173.docx", _docx([
            ("Factura nº 2025-0173", "Distribuciones Levante S.L., CIF B46123456, calle del "
             "Puerto 14, 46024 Valencia. Cliente: Northwind Logistics GmbH. Fecha de emisión: "
             "12 de marzo de 2025."),
            ("Conceptos", "40 palés de cajas de cartón ondulado de doble canal a 86,50 € el "
             "palé; 120 rollos de film estirable de 23 micras a 14,20 € el rollo; transporte "
             "hasta el almacén del cliente en Zaragoza, 310,00 €."),
            ("Importe", "Base imponible 5.474,00 €. IVA (21 %) 1.149,54 €. Total a pagar "
             "6.623,54 €."),
            ("Forma de pago", "Transferencia bancaria a la cuenta ES91 2100 0418 4502 0005 1332 "
             "en un plazo de treinta días desde la fecha de la factura. Los pagos fuera de plazo "
             "devengarán un interés de demora del 8 % anual."),
        ])),
        Upload("contrato-arrendamiento-nave.md", _md("Contrato de arrendamiento de nave "
                                                       "industrial", [
            ("Objeto", "Inmobiliaria Turia S.A. arrienda a Northwind Logistics la nave "
             "industrial situada en el polígono Fuente del Jarro, parcela 27, de 2.400 metros "
             "cuadrados, con dos muelles de carga, para su uso exclusivo como almacén."),
            ("Duración", "El contrato tiene una duración de cinco años a contar desde el 1 de "
             "mayo de 2025. Cualquiera de las partes podrá resolverlo con un preaviso por "
             "escrito de seis meses."),
            ("Renta", "La renta mensual es de 4.200 euros más IVA, pagadera dentro de los "
             "cinco primeros días de cada mes. Se actualizará cada año conforme al índice de "
             "precios al consumo."),
            ("Fianza", "A la firma, la arrendataria entrega una fianza equivalente a dos "
             "mensualidades de renta, que se devolverá al término del contrato una vez "
             "comprobado el estado de la nave."),
            ("Obras y seguro", "La arrendataria no podrá realizar obras que modifiquen la "
             "estructura sin el consentimiento por escrito de la propiedad, y mantendrá un "
             "seguro de responsabilidad civil con una cobertura mínima de 600.000 euros."),
        ])),
        Upload("acta-comite-seguridad.eml", _eml(
            "prevencion@northwind.example", "comite-seguridad@northwind.example",
            "Acta de la reunión del comité de seguridad y salud, 3 de abril",
            "Thu, 3 Apr 2025 17:05:00 +0200",
            "Asistentes: la jefa de almacén, el técnico de prevención y dos delegados de "
            "prevención.\n\nPrimer punto: durante el primer trimestre se registraron dos "
            "accidentes leves, ambos cortes en las manos al abrir cajas con cúter. Se acuerda "
            "repartir guantes anticorte a todo el personal de recepción.\n\nSegundo punto: las "
            "salidas de emergencia del pasillo 4 estaban obstruidas por palés vacíos en la "
            "inspección del 28 de marzo. Se prohíbe dejar material a menos de un metro de las "
            "puertas.\n\nTercer punto: el simulacro de evacuación se hará el 15 de mayo a las "
            "11:00; el tiempo objetivo es de cuatro minutos.", None)),
        Upload("politica-gastos-viaje.html", _html("Política de gastos de viaje", [
            ("Anticipos", "El empleado puede solicitar un anticipo de hasta 600 euros con una "
             "semana de antelación; se descontará de la liquidación final."),
            ("Kilometraje", "El uso del coche particular se compensa a 0,26 euros por "
             "kilómetro, además de peajes y aparcamiento con su justificante."),
            ("Justificantes", "Las notas de gasto se presentan en el plazo de quince días tras "
             "el viaje, con las facturas originales; sin factura no se reembolsa el gasto."),
        ])),
        Upload("contrat-de-travail-cdi.docx", _docx([
            ("Engagement", "La société Northwind Logistique SAS engage Mme Claire Dubois en "
             "qualité de responsable des expéditions, à compter du 2 juin 2025, pour une durée "
             "indéterminée."),
            ("Période d'essai", "Le contrat ne deviendra définitif qu'à l'issue d'une période "
             "d'essai de quatre mois, renouvelable une fois d'un commun accord."),
            ("Rémunération", "La salariée percevra un salaire brut annuel de 42 000 euros, "
             "versé en douze mensualités, ainsi qu'une prime d'objectifs pouvant atteindre 10 "
             "% du salaire."),
            ("Temps de travail et congés", "La durée du travail est de 35 heures par semaine. "
             "La salariée bénéficie de 25 jours ouvrés de congés payés par an et peut "
             "travailler à domicile deux jours par semaine."),
            ("Préavis", "En cas de démission après la période d'essai, la salariée respectera "
             "un préavis d'un mois ; en cas de licenciement, le préavis est de deux mois."),
        ])),
        Upload("compte-rendu-reunion-commerciale.docx", _docx([
            ("Résultats du premier trimestre", "Le chiffre d'affaires du trimestre atteint "
             "3,8 millions d'euros, en hausse de 6 % sur un an, porté par l'entreposage "
             "frigorifique."),
            ("Clients", "Nous avons signé avec la chaîne de boulangeries Pain Doré un contrat "
             "de livraison quotidienne en Île-de-France. En revanche, le distributeur de "
             "jouets Ludo+ nous quitte en juin pour un concurrent moins cher."),
            ("Objectifs", "L'équipe vise trois nouveaux clients dans la pharmacie d'ici "
             "septembre et une baisse des retards de livraison sous les 2 %."),
        ])),
        Upload("procedure-retour-marchandise.html", _html("Procédure de retour de "
                                                            "marchandise", [
            ("Délai", "Le client dispose de quatorze jours à compter de la réception pour "
             "signaler un produit défectueux ou non conforme."),
            ("Numéro de retour", "Aucun colis n'est accepté sans numéro d'autorisation de "
             "retour, délivré par le service client après l'envoi de photos du produit."),
            ("Remboursement", "Le remboursement est effectué sous dix jours après contrôle du "
             "produit retourné ; les frais de port sont à notre charge si l'erreur vient de "
             "nous."),
            ("Exclusions", "Les produits frais et surgelés ne peuvent pas être repris, sauf "
             "rupture de la chaîne du froid constatée à la livraison."),
        ])),
        Upload("rahmenliefervertrag.docx", _docx([
            ("Vertragsparteien", "Rahmenliefervertrag zwischen der Nordwind Logistik GmbH, "
             "Hamburg, und der Elbe Verpackungswerke AG über Kartonagen, Klebeband und "
             "Kantenschutz."),
            ("Laufzeit und Kündigung", "Der Vertrag läuft ab dem 1. Januar 2025 auf "
             "unbestimmte Zeit. Er kann mit einer Frist von drei Monaten zum Ende eines "
             "Kalenderquartals schriftlich gekündigt werden."),
            ("Zahlungsbedingungen", "Rechnungen sind innerhalb von 45 Tagen netto zahlbar. Bei "
             "Zahlung innerhalb von zehn Tagen gewährt der Lieferant 2 % Skonto."),
            ("Gewährleistung", "Die Gewährleistungsfrist beträgt 24 Monate ab Lieferung. "
             "Mängel sind innerhalb von fünf Werktagen nach Entdeckung anzuzeigen."),
            ("Gerichtsstand", "Gerichtsstand ist Hamburg; es gilt deutsches Recht."),
        ])),
        Upload("betriebsanweisung-gabelstapler.md", _md("Betriebsanweisung "
                                                          "Flurförderzeuge", [
            ("Fahrberechtigung", "Gabelstapler dürfen nur von Beschäftigten gefahren werden, "
             "die mindestens 18 Jahre alt sind, eine Ausbildung abgeschlossen haben und vom "
             "Betrieb schriftlich beauftragt wurden."),
            ("Vor Arbeitsbeginn", "Vor jeder Schicht prüft der Fahrer Bremsen, Lenkung, Hupe, "
             "Gabelzinken und Hydraulik auf Schäden; Mängel werden sofort dem Schichtleiter "
             "gemeldet und das Fahrzeug stillgelegt."),
            ("Fahren in der Halle", "In der Halle gilt Schrittgeschwindigkeit, höchstens 6 "
             "km/h. Lasten werden bodennah transportiert; das Mitnehmen von Personen ist "
             "verboten."),
            ("Laden der Batterie", "Antriebsbatterien werden nur im belüfteten Laderaum "
             "geladen. Rauchen und offenes Feuer sind dort untersagt."),
        ])),
        Upload("zahlungserinnerung.eml", _eml(
            "buchhaltung@elbe-verpackung.example", "kreditoren@nordwind.example",
            "Zahlungserinnerung zur Rechnung 88412", "Mon, 14 Apr 2025 08:30:00 +0200",
            "Sehr geehrte Damen und Herren,\n\nbei der Durchsicht unserer Konten haben wir "
            "festgestellt, dass die Rechnung 88412 vom 20. Februar über 12.870,40 Euro noch "
            "offen ist. Bitte überweisen Sie den Betrag bis zum 28. April. Sollte die Zahlung "
            "bis dahin nicht eingehen, berechnen wir eine Mahngebühr von 5 Euro sowie "
            "Verzugszinsen.\n\nFalls Sie inzwischen bezahlt haben, betrachten Sie dieses "
            "Schreiben bitte als gegenstandslos.\n\nMit freundlichen Grüßen\nBuchhaltung",
            None)),
        Upload("it-sicherheitsrichtlinie.html", _html("IT-Sicherheitsrichtlinie", [
            ("Passwörter", "Passwörter müssen mindestens zwölf Zeichen lang sein. Für den "
             "Zugang von außen ist eine Zwei-Faktor-Anmeldung mit der Authenticator-App "
             "Pflicht."),
            ("Wechseldatenträger", "Private USB-Sticks dürfen nicht an Firmenrechner "
             "angeschlossen werden; Daten werden über die freigegebenen Netzlaufwerke "
             "ausgetauscht."),
            ("Verdächtige E-Mails", "Verdächtige Nachrichten werden nicht geöffnet, sondern "
             "über die Schaltfläche „Phishing melden“ an die IT weitergeleitet."),
            ("Bildschirmsperre", "Wer den Arbeitsplatz verlässt, sperrt den Bildschirm; nach "
             "fünf Minuten ohne Eingabe sperrt er sich automatisch."),
        ])),
    ]  # fmt: skip


_BUSINESS_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("How much VAT was charged on the cardboard box invoice from Valencia?",
     "factura-2025-0173.docx"),
    ("What is the late payment interest rate on the packaging supplier's bill?",
     "factura-2025-0173.docx"),
    ("How many rolls of stretch wrap did we buy in March?", "factura-2025-0173.docx"),
    ("What is the monthly rent for the warehouse we lease in Spain?",
     "contrato-arrendamiento-nave.md"),
    ("How much notice must be given to end the warehouse rental?",
     "contrato-arrendamiento-nave.md"),
    ("How large is the security deposit for the leased building?",
     "contrato-arrendamiento-nave.md"),
    ("Can we make structural changes to the rented warehouse?", "contrato-arrendamiento-nave.md"),
    ("How many minor injuries happened in the first quarter and what caused them?",
     "acta-comite-seguridad.eml"),
    ("When is the next fire evacuation drill?", "acta-comite-seguridad.eml"),
    ("What was blocking the emergency exits during the inspection?",
     "acta-comite-seguridad.eml"),
    ("What is the mileage rate for using my own car on business trips?",
     "politica-gastos-viaje.html"),
    ("How much cash advance can I ask for before a trip?", "politica-gastos-viaje.html"),
    ("What is the deadline for submitting expense claims?", "politica-gastos-viaje.html"),
    ("How long is the probation period of the new shipping manager?",
     "contrat-de-travail-cdi.docx"),
    ("What is the annual salary in the employment contract?", "contrat-de-travail-cdi.docx"),
    ("How many days a week may the new hire work from home?", "contrat-de-travail-cdi.docx"),
    ("How much notice does the employee give if she resigns?", "contrat-de-travail-cdi.docx"),
    ("What was the revenue in the first quarter?", "compte-rendu-reunion-commerciale.docx"),
    ("Which customer is leaving us for a cheaper competitor?",
     "compte-rendu-reunion-commerciale.docx"),
    ("What sales targets were set for the autumn?", "compte-rendu-reunion-commerciale.docx"),
    ("How many days does a customer have to report a faulty product?",
     "procedure-retour-marchandise.html"),
    ("Can frozen food be sent back?", "procedure-retour-marchandise.html"),
    ("Who pays the shipping when goods are returned?", "procedure-retour-marchandise.html"),
    ("What discount do we get for paying the box maker early?", "rahmenliefervertrag.docx"),
    ("How can the framework supply contract be terminated?", "rahmenliefervertrag.docx"),
    ("How long is the warranty on delivered packaging material?", "rahmenliefervertrag.docx"),
    ("Which court has jurisdiction over disputes with the supplier?",
     "rahmenliefervertrag.docx"),
    ("What is the speed limit for forklifts inside the warehouse?",
     "betriebsanweisung-gabelstapler.md"),
    ("What must a driver check before starting a shift on the lift truck?",
     "betriebsanweisung-gabelstapler.md"),
    ("Where are the forklift batteries charged?", "betriebsanweisung-gabelstapler.md"),
    ("Which unpaid invoice is the supplier chasing, and by when must we pay?",
     "zahlungserinnerung.eml"),
    ("How long must passwords be?", "it-sicherheitsrichtlinie.html"),
    ("Am I allowed to plug my own memory stick into my work computer?",
     "it-sicherheitsrichtlinie.html"),
)  # fmt: skip


def business_files() -> RetrievalSet:
    """Spanish, French and German business files, with the English office files beside them."""
    distractors = office_files().files
    return RetrievalSet(
        "Cross-lingual business files (es/fr/de)",
        _business_files() + distractors,
        [q for q, _ in _BUSINESS_QUESTIONS],
        [(name, None) for _, name in _BUSINESS_QUESTIONS],
    )


# (question, lesson number as in every translation)
_TUTOR_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Which keys move the cursor left, down, up and right?", "1.1"),
    ("How do I quit the editor without saving my changes?", "1.2"),
    ("How do I delete the character under the cursor?", "1.3"),
    ("How do I add text at the end of a line?", "1.5"),
    ("How do I save the file and exit?", "1.6"),
    ("How do I delete a word?", "2.1"),
    ("How can I delete from the cursor to the end of the line?", "2.2"),
    ("How do I move forward several words at once with a number?", "2.4"),
    ("How do I remove a whole line?", "2.6"),
    ("How do I undo my last changes, or a whole line of changes?", "2.7"),
    ("How do I paste back text I deleted?", "3.1"),
    ("How do I replace a single character with another?", "3.2"),
    ("How do I change the rest of a word?", "3.3"),
    ("How do I see where I am in the file and jump to a given line?", "4.1"),
    ("How do I search for a phrase, and search backwards?", "4.2"),
    ("How do I find the bracket that matches the one under the cursor?", "4.3"),
    ("How do I substitute every occurrence of a word in the file?", "4.4"),
    ("How do I run a shell command from inside the editor?", "5.1"),
    ("How do I insert the contents of another file?", "5.4"),
    ("How do I open a new line below the cursor and start typing?", "6.1"),
    ("How do I copy text and paste it elsewhere?", "6.4"),
)

_LESSON = re.compile(r"^\s*(Lecci[oó]n|Le[cç]on|Lektion)\s+(\d+(?:\.\d+)?)\s*:?(.*)$")
_SUMMARY = re.compile(
    r"^\s*(RESUMEN DE LA LECCIÓN|RÉSUMÉ DE LA LEÇON|ZUSAMMENFASSUNG VON LEKTION)\s+(\d+)\s*$"
)


def _tutor_markdown(text: str) -> str:
    out = []
    for line in text.splitlines():
        summary = _SUMMARY.match(line)
        if summary:  # a lesson's summary repeats its commands: it answers its questions too
            out.append(f"\n## {summary.group(1)} {summary.group(2)} [summary {summary.group(2)}]\n")
            continue
        match = _LESSON.match(line)
        if (
            match
            and match.group(3).strip()
            and match.group(3).strip().upper() == match.group(3).strip()
        ):
            out.append(f"\n## {match.group(1)} {match.group(2)}: {match.group(3).strip()}\n")
        else:
            out.append(line)
    return "\n".join(out)


def tutor_files() -> RetrievalSet | str:
    """Vim's tutorial in Spanish, French and German, or why it cannot be used here."""
    files = []
    for language in ("es", "fr", "de"):
        found = sorted(glob.glob(f"/usr/share/vim/vim*/tutor/tutor.{language}.utf-8"))
        if not found:
            return f"Vim tutor left out: no tutor.{language}.utf-8 (install vim-runtime)"
        text = Path(found[-1]).read_text(encoding="utf-8")
        files.append(Upload(f"vimtutor-{language}.md", _tutor_markdown(text).encode()))
    return RetrievalSet(
        "Vim tutor (es/fr/de, real translations)",
        files,
        [q for q, _ in _TUTOR_QUESTIONS],
        [("vimtutor", lesson) for _, lesson in _TUTOR_QUESTIONS],
    )


def relevant(passage: Passage, gold: tuple[str, str | None]) -> bool:
    """A file set's hit: the tutor's lesson in any language, else as `retrieval_corpora`
    judges (the right file, and the right section where the gold names one)."""
    name, lesson = gold
    if name != "vimtutor":
        return _relevant(passage, gold)
    section = passage.section or ""
    lesson = lesson or ""
    if f"[summary {lesson.split('.')[0]}]" in section:
        return True
    return bool(re.search(rf"(?<![\d.]){re.escape(lesson)}:", section))
