"""Lookup tables shipped with the engine: kind -> journal side, statuses, response codes, countries."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

# Which side of the customer account a PayTrace fact books: money in credits the customer,
# money back (refund) or a cancelled payment (void reversal) debits it.
# An adjust and a void take their side from the lines D365 holds (PaymentPoster sets it).
PAYMENT_JOURNAL_SIDE = {
    "sale": "credit", "capture": "credit", "refund": "debit", "void": "debit", "adjust": "credit",
    "return": "debit",
}  # fmt: skip

TRANSACTION_KIND_TO_JOURNAL = {
    "sale": "customer_payment",
    "capture": "customer_payment",
    "refund": "customer_payment",
    "void": "customer_payment",
    "adjust": "customer_payment",
    "return": "customer_payment",
    "settlement": "general",
}

# Canonical transaction status -> the payment status text written on a D365 order (custom field).
PAYTRACE_STATUS_TO_D365_PAYMENT_STATUS = {
    "authorized": "Authorized",
    "approved": "Paid",
    "pending_settlement": "Paid",
    "settled": "Settled",
    "declined": "Declined",
    "voided": "Voided",
}

# PayTrace export ``transaction_type`` -> canonical transaction kind (spec §5.10).
PAYTRACE_TRANSACTION_TYPE_TO_KIND = {
    "SALE": "sale",
    "STR/FWD": "sale",
    "AUTHORIZATION": "authorization",
    "CAPTURE": "capture",
    "REFUND": "refund",
    "VOID": "void",
    "DECLINED": "decline",
}

# PayTrace v1 ``response_code`` -> plain words for people (spec §3.2).
PAYTRACE_RESPONSE_CODE_MESSAGE = {
    "1": "One or more errors has occurred.",
    "100": "Password successfully updated.",
    "101": "Your transaction was successfully approved.",
    "102": "Your transaction was not approved.",
    "103": "Approved, but voided because the address and/or CSC did not match.",
    "104": "Test transaction approved.",
    "105": "Test transaction not approved.",
    "106": "Your transaction was successfully refunded.",
    "107": "Your refund was not successful.",
    "108": "Test refund approved.",
    "109": "Your transaction was successfully voided.",
    "110": "Your void was not successful.",
    "111": "Test void approved.",
    "112": "Your transaction was successfully captured.",
    "113": "Your capture was not successful.",
    "114": "Test capture approved.",
    "115": "Your transaction was successfully forced.",
    "116": "Your forced transaction was not successful.",
    "117": "Test forced transaction approved.",
    "118": "Your transaction was successfully stored.",
    "120": "Your check was successfully processed.",
    "121": "Test check processed.",
    "122": "Your check was successfully refunded.",
    "123": "Test check refunded.",
    "124": "Your check was successfully managed.",
    "125": "Your check was NOT successfully processed.",
    "149": "The receipt was emailed.",
    "150": "The recurring payment was created.",
    "151": "The recurring payment was updated.",
    "152": "The recurring payment was deleted.",
    "155": "The recurring payments were exported.",
    "160": "The customer profile was successfully created.",
    "161": "The customer profile was successfully updated.",
    "162": "The customer profile was successfully deleted.",
    "170": "Visa/MasterCard enhanced data was successfully added.",
    "175": "The batch was settled.",
    "180": "The transaction amount was adjusted.",
}

_COUNTRY_PAIRS = """
AD AND AE ARE AF AFG AG ATG AI AIA AL ALB AM ARM AO AGO AQ ATA AR ARG AS ASM AT AUT AU AUS
AW ABW AX ALA AZ AZE BA BIH BB BRB BD BGD BE BEL BF BFA BG BGR BH BHR BI BDI BJ BEN BL BLM
BM BMU BN BRN BO BOL BQ BES BR BRA BS BHS BT BTN BV BVT BW BWA BY BLR BZ BLZ CA CAN CC CCK
CD COD CF CAF CG COG CH CHE CI CIV CK COK CL CHL CM CMR CN CHN CO COL CR CRI CU CUB CV CPV
CW CUW CX CXR CY CYP CZ CZE DE DEU DJ DJI DK DNK DM DMA DO DOM DZ DZA EC ECU EE EST EG EGY
EH ESH ER ERI ES ESP ET ETH FI FIN FJ FJI FK FLK FM FSM FO FRO FR FRA GA GAB GB GBR GD GRD
GE GEO GF GUF GG GGY GH GHA GI GIB GL GRL GM GMB GN GIN GP GLP GQ GNQ GR GRC GS SGS GT GTM
GU GUM GW GNB GY GUY HK HKG HM HMD HN HND HR HRV HT HTI HU HUN ID IDN IE IRL IL ISR IM IMN
IN IND IO IOT IQ IRQ IR IRN IS ISL IT ITA JE JEY JM JAM JO JOR JP JPN KE KEN KG KGZ KH KHM
KI KIR KM COM KN KNA KP PRK KR KOR KW KWT KY CYM KZ KAZ LA LAO LB LBN LC LCA LI LIE LK LKA
LR LBR LS LSO LT LTU LU LUX LV LVA LY LBY MA MAR MC MCO MD MDA ME MNE MF MAF MG MDG MH MHL
MK MKD ML MLI MM MMR MN MNG MO MAC MP MNP MQ MTQ MR MRT MS MSR MT MLT MU MUS MV MDV MW MWI
MX MEX MY MYS MZ MOZ NA NAM NC NCL NE NER NF NFK NG NGA NI NIC NL NLD NO NOR NP NPL NR NRU
NU NIU NZ NZL OM OMN PA PAN PE PER PF PYF PG PNG PH PHL PK PAK PL POL PM SPM PN PCN PR PRI
PS PSE PT PRT PW PLW PY PRY QA QAT RE REU RO ROU RS SRB RU RUS RW RWA SA SAU SB SLB SC SYC
SD SDN SE SWE SG SGP SH SHN SI SVN SJ SJM SK SVK SL SLE SM SMR SN SEN SO SOM SR SUR SS SSD
ST STP SV SLV SX SXM SY SYR SZ SWZ TC TCA TD TCD TF ATF TG TGO TH THA TJ TJK TK TKL TL TLS
TM TKM TN TUN TO TON TR TUR TT TTO TV TUV TW TWN TZ TZA UA UKR UG UGA UM UMI US USA UY URY
UZ UZB VA VAT VC VCT VE VEN VG VGB VI VIR VN VNM VU VUT WF WLF WS WSM YE YEM YT MYT ZA ZAF
ZM ZMB ZW ZWE
"""
_COUNTRIES = _COUNTRY_PAIRS.split()

COUNTRY_ALPHA2_TO_ALPHA3 = dict(zip(_COUNTRIES[0::2], _COUNTRIES[1::2], strict=True))
COUNTRY_ALPHA3_TO_ALPHA2 = {v: k for k, v in COUNTRY_ALPHA2_TO_ALPHA3.items()}


def builtin_tables() -> dict[str, MappingProxyType[str, Any]]:
    """The tables every template may ``lookup``; a template's own ``tables:`` add to these."""
    tables: dict[str, dict[str, Any]] = {
        "payment_journal_side": PAYMENT_JOURNAL_SIDE,
        "transaction_kind_to_journal": TRANSACTION_KIND_TO_JOURNAL,
        "paytrace_status_to_d365_payment_status": PAYTRACE_STATUS_TO_D365_PAYMENT_STATUS,
        "paytrace_transaction_type_to_kind": PAYTRACE_TRANSACTION_TYPE_TO_KIND,
        "paytrace_response_code_message": PAYTRACE_RESPONSE_CODE_MESSAGE,
        "country_alpha2_to_alpha3": COUNTRY_ALPHA2_TO_ALPHA3,
        "country_alpha3_to_alpha2": COUNTRY_ALPHA3_TO_ALPHA2,
    }
    return {name: MappingProxyType(dict(table)) for name, table in tables.items()}
