"""Generating parameters of the synthetic registry (plausible against registry-brief.md section 5).

These are assumptions of the synthetic model, not clinical rules: clinical rules live in the dictionary and
data/config. Every value lands in ground_truth/params.json so an estimator can be checked against it.
"""

from __future__ import annotations

from typing import Any

# Product -> first order month when the dictionary's code list has no approved_kr attribute (assumption),
# share of orders once available, diseases (with weights), setting. TISA_CEL and ANBAL_CEL start the month
# after their approved_kr date (read from the dictionary).
PRODUCTS: dict[str, dict[str, Any]] = {
    "TISA_CEL": {
        "start": None,
        "weight": 3.0,
        "setting": "COMMERCIAL",
        "diseases": {"DLBCL": 0.62, "HGBCL": 0.06, "TFL": 0.08, "B_ALL": 0.24},
    },
    "AXI_CEL": {
        "start": "2021-10",
        "weight": 3.0,
        "setting": "COMMERCIAL",
        "diseases": {"DLBCL": 0.72, "HGBCL": 0.08, "PMBCL": 0.10, "TFL": 0.10},
    },
    "CILTA_CEL": {"start": "2023-01", "weight": 2.0, "setting": "COMMERCIAL", "diseases": {"MM": 1.0}},
    "ANBAL_CEL": {"start": None, "weight": 2.5, "setting": "COMMERCIAL", "diseases": {"DLBCL": 0.88, "PMBCL": 0.12}},
    "TRIAL": {
        "start": None,
        "weight": 0.6,
        "setting": "TRIAL",
        "diseases": {"MCL": 0.3, "FL": 0.2, "MM": 0.2, "B_ALL": 0.1, "DLBCL": 0.1, "OTHER": 0.1},
    },
}

# Toxicity per product: P(any), P(grade >= 3), P(grade 5 | grade >= 3); onset median day and log-sd.
TOXICITY: dict[str, dict[str, float]] = {
    "TISA_CEL": {
        "crs_any": 0.55,
        "crs_g3": 0.09,
        "icans_any": 0.20,
        "icans_g3": 0.06,
        "crs_onset": 4,
        "icans_onset": 7,
    },
    "AXI_CEL": {"crs_any": 0.91, "crs_g3": 0.08, "icans_any": 0.65, "icans_g3": 0.28, "crs_onset": 3, "icans_onset": 6},
    "CILTA_CEL": {
        "crs_any": 0.90,
        "crs_g3": 0.05,
        "icans_any": 0.20,
        "icans_g3": 0.04,
        "crs_onset": 7,
        "icans_onset": 8,
    },
    "ANBAL_CEL": {
        "crs_any": 0.70,
        "crs_g3": 0.05,
        "icans_any": 0.15,
        "icans_g3": 0.03,
        "crs_onset": 5,
        "icans_onset": 7,
    },
    "TRIAL": {"crs_any": 0.65, "crs_g3": 0.10, "icans_any": 0.30, "icans_g3": 0.08, "crs_onset": 5, "icans_onset": 7},
}
G5_GIVEN_G3 = 0.04
ONSET_LOG_SD = {"crs": 0.55, "icans": 0.35}

# Efficacy per (product, disease group): cure fraction (never progresses), median months to progression of the
# non-cured, median survival after progression; NRM: cumulative by 1 year (early, hazard decaying) and a late
# yearly hazard. Calibrated to DESCAR-T 1-y OS (axi 63.5%, tisa 48.8%), CARTITUDE, NRM 6-8%.
EFFICACY: dict[str, dict[str, float]] = {
    "TISA_CEL/LBCL": {"cure": 0.30, "prog_median_mo": 2.5, "post_prog_mo": 5.0, "nrm_1y": 0.05},
    "TISA_CEL/ALL": {"cure": 0.45, "prog_median_mo": 6.0, "post_prog_mo": 7.0, "nrm_1y": 0.05},
    "AXI_CEL/LBCL": {"cure": 0.43, "prog_median_mo": 2.8, "post_prog_mo": 6.0, "nrm_1y": 0.06},
    "CILTA_CEL/MM": {"cure": 0.30, "prog_median_mo": 20.0, "post_prog_mo": 14.0, "nrm_1y": 0.07},
    "ANBAL_CEL/LBCL": {"cure": 0.40, "prog_median_mo": 2.8, "post_prog_mo": 6.0, "nrm_1y": 0.05},
    "TRIAL/*": {"cure": 0.30, "prog_median_mo": 5.0, "post_prog_mo": 9.0, "nrm_1y": 0.08},
}
NRM_LATE_PER_YEAR = 0.01
# NRM causes given only when the event itself happened (grade 5 CRS/ICANS, an earlier new malignancy); IEC-HS
# deaths are left out of the random draw because IEC-HS is not linked to the AE rows.
NRM_CAUSES_FROM_EVENTS = ("CRS", "ICANS", "SECONDARY_MALIGNANCY", "IEC_HS")
NRM_EARLY_SHAPE = 0.5  # Weibull shape < 1: NRM hazard highest just after infusion
# New malignancy per year after infusion, by product target. CD19: ~3.5% 3-year cumulative incidence with death
# competing (Penn, Nat Med 2024: 3.6%; Stanford, NEJM 2024: 6.5% haematologic at 3 years; registry brief §5).
# BCMA (cilta-cel) is higher: CARTITUDE-1 (Martin et al., J Clin Oncol 2023;41:1265) reported second primary
# malignancies in 20/97 patients (21%) by a median 33 months, 10 of them myeloid neoplasms -> ~0.07 / year.
SPM_PER_YEAR = {"CD19": 0.02, "BCMA": 0.07}
SPM_MYELOID_BCMA = 0.45  # share of MDS/AML among BCMA new malignancies (CARTITUDE-1: 10 of 20 myeloid)
SPM_CATEGORIES = {
    "MDS_AML": 0.28,
    "OTHER_MYELOID": 0.05,
    "T_CELL_NEOPLASM": 0.07,
    "OTHER_LYMPHOID": 0.05,
    "PTLD": 0.02,
    "SOLID": 0.25,
    "SKIN_NON_MELANOMA": 0.18,
    "MELANOMA": 0.03,
    "OTHER": 0.07,
}
# ICD-O-3.1 (topography, morphology with behaviour) per malignancy category: what the national cancer registry
# returns (linkage.py) and what a site reports on form 3500 (forms.py); the one table of both. PTLD: 9971/3,
# polymorphic post-transplant lymphoproliferative disorder, a code of ICD-O-3.1 (WHO 2013; SEER Hematopoietic
# Database: 9971/3 for cases diagnosed from 2010); ICD-O-3.2 and the WHO revised 4th edition (2017) made it 9971/1.
SPM_ICDO3 = {
    "MDS_AML": ("C42.1", "9861/3"),
    "OTHER_MYELOID": ("C42.1", "9975/3"),
    "T_CELL_NEOPLASM": ("C77.9", "9702/3"),
    "OTHER_LYMPHOID": ("C42.1", "9823/3"),
    "PTLD": ("C77.9", "9971/3"),
    "SOLID": ("C18.9", "8140/3"),
    "SKIN_NON_MELANOMA": ("C44.9", "8090/3"),
    "MELANOMA": ("C44.5", "8720/3"),
    "OTHER": ("C80.9", "8000/3"),
}
LTFU_PER_YEAR = 0.03
# Pregnancies per year from 4 months after infusion, of the patient (women 18-45) or of a male patient's partner
# (men 18-55). Assumption between allogeneic HCT survivors (0.53% first pregnancies per year among women 18-40,
# German registry, Sockel et al., Blood 2024;144:1532) and the general population (3.02% first births per year,
# same paper): CAR-T's lymphodepletion is not myeloablative. Partners' pregnancies are reported about as often as
# patients' (CIBMTR, Loren et al., BBMT 2011;17:157: 95 partner vs 83 patient pregnancies).
PREGNANCY_PER_YEAR = {"PATIENT": 0.02, "PARTNER": 0.012}
FERTILE_AGES = {"F": (18, 45), "M": (18, 55)}
NOT_INFUSED = 0.05
NOT_INFUSED_REASONS = {"MANUFACTURING_FAILURE": 0.35, "DEATH": 0.25, "PROGRESSION": 0.30, "OTHER": 0.10}
REGISTERED_LATE = 0.13
MISSED_VISIT = 0.08
DEATH_VISIT = 0.7  # share of deaths also reported on the follow-up form of the period
# Share of deaths reported on the follow-up form only (no death form): the pipeline must still count them
# (CIBMTR 4100: a dead patient's contact date is the date of death).
DEATH_FORM_MISSING = 0.05
# Share of infection deaths (non-relapse) also reported as a grade-5 INFECTION adverse event (CTCAE grade 5 =
# death related to the AE), resolution date = date of death.
FATAL_INFECTION_AE = 0.6
# Re-infusion of the same product: share of patients who progress and live >= 45 days after progression who get a
# second infusion 14-45 days after it (uncommon in practice; a path the pipeline must handle: day 0 stays the first
# infusion). CRS after a re-infusion: share with a second, mild episode (grade <= the first episode's).
REINFUSION_AFTER_PROGRESSION = 0.10
CRS_AFTER_REINFUSION = 0.5
# A recurrent, mild ICANS episode a few days after the first resolved (share of patients with ICANS).
ICANS_RECURRENT = 0.04

# B-cell recovery after CD19-target products (latent labs, kocartr.synth.forms): the recovery day is lognormal
# (median 300 days, log-sd 0.8), about 40% still aplastic at 12 months across CD19 products; single-centre axi-cel
# data report only 40% with detectable B cells by 1 year (Baird et al., Blood Adv 2021;5:143), ELIANA's tisa-cel
# B-cell aplasia lasted beyond 6 months in most (Maude et al., N Engl J Med 2018;378:439): a middle value, since
# lymphoma patients recover earlier than ALL. CD19 B cells (cells/uL) uniform on aplastic_range while aplastic,
# else lognormal around the normal median (assumption). BCMA products spare B cells.
B_CELL_RECOVERY: dict[str, Any] = {
    "median_day": 300,
    "log_sd": 0.8,
    "aplastic_range": (0, 5),
    "normal_median": 120,
    "normal_log_sd": 0.5,
}
# Infections (adverse_event rows). Early: a share of infused patients has one episode with onset uniform on days
# 1-180 (Hill et al., Blood 2018;131:121: 23% infected by day 28, infection density falling from 1.19 to 0.67 per
# 100 days at risk by days 29-90). Late (kocartr.synth.late, own stream): episodes after day 180 at a constant
# rate per person-year while alive and followed, mostly viral respiratory (Stewart & Henden, Ther Adv Infect Dis
# 2021;8:20499361211036773; opportunistic infections up to 18 months with delayed CD4 recovery, Baird et al. 2021);
# the rate is an assumption (about one episode every four years of follow-up), grades mostly 2-3.
INFECTION: dict[str, Any] = {
    "early_share": 0.30,
    "early_days": (1, 180),
    "late_from_day": 181,
    "late_per_year": 0.25,
    "late_grades": [2, 2, 2, 3, 3, 4],
    "duration_days": (5, 30),
    "organism_types": {"BACTERIAL": 0.45, "VIRAL": 0.35, "FUNGAL": 0.1, "UNKNOWN": 0.1},
    "late_organism_types": {"BACTERIAL": 0.3, "VIRAL": 0.55, "FUNGAL": 0.05, "UNKNOWN": 0.1},
    "organisms": {
        "BACTERIAL": ["E. coli", "Klebsiella pneumoniae", "S. aureus"],
        "VIRAL": ["CMV", "HSV", "VZV", "SARS-CoV-2", "RSV"],
        "FUNGAL": ["Aspergillus", "Candida"],
    },
    "sites": ["BLOODSTREAM", "RESPIRATORY", "GASTROINTESTINAL", "URINARY", "SKIN_SOFT_TISSUE", "OTHER"],
}

# Seed salt of the late-effect generator (kocartr.synth.late): its draws never move the main stream's.
LATE_STREAM = 0x1A7E

# Hospital admissions (kocartr.synth.late). Korean centres admit CAR-T patients for lymphodepletion or infusion
# and monitoring; US real-world axi-cel: median stay about 14 days from infusion (Nastoupil et al., J Clin
# Oncol 2020;38:3119; verify), longer with grade >= 3 CRS / ICANS. Tisagenlecleucel may be given as an outpatient
# (JULIET allowed it; share here an assumption). Readmission shares are synthetic assumptions (about one in
# three patients readmitted in the first 90 days, mostly for infection, as US claims studies report).
HOSPITALIZATION: dict[str, Any] = {
    "inpatient_share": {"TISA_CEL": 0.85, "AXI_CEL": 1.0, "CILTA_CEL": 1.0, "ANBAL_CEL": 1.0, "TRIAL": 0.95},
    "admitted_for_lymphodepletion": 0.6,  # else admitted the day before infusion
    "post_infusion_days_median": 13,
    "extra_days_per_grade": 4,  # per CRS / ICANS grade above 1
    "icu_given_grade3": 0.8,
    "infection_grade2_admitted": 0.25,
    "late_cytopenia_admitted": 0.3,
    "progression_admitted": 0.4,
    "other_per_year": 0.12,
}

# Immune reconstitution (kocartr.synth.late). CD4 T cells fall after fludarabine/cyclophosphamide and recover over
# months: about half of patients still below 200 cells/uL at 6-12 months after CD19 CAR-T (Baird et al., Blood Adv
# 2021;5:143; verify): median nadir 50, plateau 350, recovery time constant 300 days give median ~210 at day 180.
# IgA / IgM: share of baseline kept during B-cell aplasia (CD19) or plasma-cell aplasia (BCMA, first year): IgM
# falls most (short half-life, made by new B cells), as IgG falls less (long-lived plasma cells spared by CD19
# CAR-T, not by BCMA CAR-T: hypogammaglobulinaemia in most BCMA patients, Wang et al., Blood Adv 2021; verify).
# CAR persistence after the expansion: a slowly decaying tail (qPCR detectable for years in many tisa-cel patients,
# Melenhorst et al., Nature 2022;602:503), in CD19 patients with lasting B-cell aplasia and some others.
IMMUNE: dict[str, Any] = {
    "cd4_base": 300.0,
    "cd4_nadir": 50.0,
    "cd4_plateau": 350.0,
    "cd4_recovery_days": 300.0,
    "iga_base": 150.0,
    "iga_base_mm": 40.0,  # uninvolved immunoglobulins are suppressed in myeloma
    "igm_base": 60.0,
    "igm_base_mm": 20.0,
    "low_share": {"IGA": 0.5, "IGM": 0.2},
    "car_tail_copies": 300.0,
    "car_tail_days": 500.0,
    "car_persistence_bcma": 0.3,
    "cd4_days": (-5, 28, 90, 180, 365),
    "late_years_days": (730, 1095, 1460, 1825),
}

# BCMA-related neurological events as adverse_event rows (kocartr.synth.late), per patient, by product target.
# Cilta-cel: parkinsonism / movement and neurocognitive TEAEs in 5% in CARTITUDE-1 (median onset ~27 days), fewer
# (<1%) once the mitigation strategies of CARTITUDE-4 were used; cranial nerve palsies (mostly facial, median onset
# ~3 weeks, most resolving) in about 7-9% (Carvykti prescribing information; verify). CD19 products: rare.
NEURO: dict[str, Any] = {
    "PARKINSONISM": {
        "rate": {"BCMA": 0.02, "CD19": 0.001},
        "onset_median_day": 30,
        "grades": [1, 2, 2, 3, 3, 4],
        "duration_median_days": 120,
        "unresolved": 0.5,
    },
    "CRANIAL_NERVE_PALSY": {
        "rate": {"BCMA": 0.07, "CD19": 0.005},
        "onset_median_day": 21,
        "grades": [1, 2, 2, 2, 3],
        "duration_median_days": 60,
        "unresolved": 0.1,
    },
}

# Subsequent therapy class after relapse / progression, per disease group (synthetic assumption reflecting current
# practice: bispecifics and chemo-immunotherapy after CD19 CAR-T in LBCL, IMiD/PI-based and bispecific regimens after
# BCMA CAR-T in myeloma, HCT and blinatumomab/inotuzumab in ALL).
SUBSEQUENT_THERAPY: dict[str, dict[str, float]] = {
    "LBCL": {
        "BISPECIFIC": 0.30,
        "CHEMOTHERAPY": 0.22,
        "ANTIBODY": 0.15,
        "RADIOTHERAPY": 0.15,
        "TARGETED": 0.05,
        "CLINICAL_TRIAL": 0.06,
        "HCT": 0.04,
        "CAR_T": 0.03,
    },
    "MM": {
        "IMID_PI": 0.35,
        "BISPECIFIC": 0.25,
        "ANTIBODY": 0.15,
        "CHEMOTHERAPY": 0.10,
        "RADIOTHERAPY": 0.10,
        "CLINICAL_TRIAL": 0.05,
    },
    "ALL": {"BISPECIFIC": 0.30, "CHEMOTHERAPY": 0.25, "HCT": 0.20, "ANTIBODY": 0.10, "CAR_T": 0.10, "TARGETED": 0.05},
    "OTHER": {"CHEMOTHERAPY": 0.35, "BISPECIFIC": 0.2, "TARGETED": 0.2, "RADIOTHERAPY": 0.15, "OTHER": 0.1},
}

# Revaccination after CAR-T (EBMT/EHA, Hayden et al., Ann Oncol 2022;33:259): inactivated vaccines (influenza,
# COVID-19) from about 3 months, pneumococcal conjugate and the other inactivated series from about 6-12 months,
# live vaccines (MMR) not before 1 year off immunosuppression (24 months here). Antibody responses are poor during
# B-cell aplasia (Walti et al., JCI Insight 2021;6:e146743; verify). Shares are synthetic assumptions.
VACCINATION: dict[str, Any] = {
    "schedule": {
        "INFLUENZA": (100, 465, 830),
        "SARS_COV_2": (100, 130, 280),
        "PCV": (180, 210, 240),
        "PPSV23": (420,),
        "DTAP_TDAP": (365, 425, 545),
        "HEPATITIS_B": (365, 395, 545),
        "RZV": (365, 425),
        "MMR": (730,),
    },
    "revaccinated": 0.55,
    "dose_given": 0.85,
    "response_tested": 0.3,
    "protective_aplastic": 0.2,
    "protective_recovered": 0.65,
}


# Follow-up windows (days after infusion) per timepoint: data/config/followup_schedule.csv, the registry's
# configuration, when present; else the same values (CIBMTR forms manual for D100, M6, Y1; year 2 onward the
# anniversary to +60 days, brief section 2).
def followup_windows() -> dict[str, tuple[int, int]]:
    import csv

    from kocartr.paths import CONFIG_DIR

    path = CONFIG_DIR / "followup_schedule.csv"
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if rows and {"timepoint", "window_start_day", "window_end_day"} <= set(rows[0]):
            return {r["timepoint"]: (int(r["window_start_day"]), int(r["window_end_day"])) for r in rows}
    w = {"D100": (85, 115), "M6": (150, 210)}
    for y in range(1, 16):
        w[f"Y{y}"] = (365 * y, 365 * y + 60)
    return w


# ICE score -> ICANS grade (ASTCT 2019: 10 normal; 7-9 G1; 3-6 G2; 0-2 G3; 0 with unarousable G4). The ICE score
# is an integer field, not a code list, so its bands cannot come from code-list attributes.
ICE_BANDS = {0: (10, 10), 1: (7, 9), 2: (3, 6), 3: (0, 2), 4: (0, 0)}
CAPD_BANDS = {0: (0, 0), 1: (1, 8), 2: (1, 8), 3: (9, 32), 4: (9, 32)}  # children < 12: CAPD >= 9 -> G3
MOTOR_WEAKNESS_GRADE = 4

# Neutrophil course after lymphodepletion (lognormal nadir in x10^9/L and day of recovery): early ICAHT grade >= 3
# in ~20% of patients, as published (Rejeski et al., Blood Adv 2024;8:1857, 549 patients graded by the EHA/EBMT
# ICAHT scale: severe early ICAHT in 23% LBCL, 15% MM, 28% MCL). With the count schedule below, ~1 in 16 has a
# nadir below 0.1 and ~1 in 6 is still below 0.5 at the day-10 count (measured on 400 patients, seed 20261124:
# 21%; 2,000 patients, seed 3: 16%, by the grading's counting rule). Before: nadir median 0.1, recovery day 10,
# ~75% severe.
ANC_COURSE = {"nadir_median": 0.3, "nadir_log_sd": 0.7, "recovery_median_day": 6.0, "recovery_log_sd": 0.5}

# Lab schedule (days after infusion) for ANC / PLT / HGB; sparser analytes have their own.
COUNT_DAYS = (-5, 0, 3, 7, 10, 14, 21, 28, 60, 90, 180, 270, 365)
IGG_DAYS = (-5, 90, 180, 365)
CD19_DAYS = (28, 90, 180, 365)
CAR_DAYS = (7, 14, 28, 90, 180, 365)

# Submission lag (days from the event to the month the site sends it).
LAG_DAYS = (3, 45)

# Defects: share of rows with one injected defect (the total rate is generate()'s defect_rate) by class.
DEFECT_MIX = {
    "missing_required": 0.30,
    "unknown_code": 0.25,
    "date_order": 0.15,
    "duplicate_row": 0.15,
    "direct_identifier": 0.15,
}
CORRECTION_RATE = 0.004  # share of rows corrected by a later month's row (not defects)
DELETION_RATE = 0.002  # share of rows entered in error and deleted later (action=D)
FILE_VARIANTS = {"cp949": 0.15, "utf8_bom": 0.10, "xlsx": 0.05}  # cp949 among files with Korean text
XLSX_MAX_ROWS = 80  # xlsx only for files this small: workbook writing is the slowest step

KO_COMMENTS = (
    "가교 치료 후 부분 반응",
    "외래 추적 관찰 중",
    "림프구 제거 요법 용량 감량",
    "타 병원에서 전원",
    "보험 승인 후 투여",
    "임상시험 등록 환자",
    "고령으로 용량 조절 고려",
    "감염 치료 후 투여 연기",
)
KO_INFECTION = ("발열성 호중구감소증", "CMV 재활성화", "폐렴으로 입원 치료", "균혈증, 항생제 치료", "대상포진")
KO_DEATH = ("질병 진행으로 사망", "패혈증으로 사망", "호흡부전", "다발성 장기부전", "원인 불명 사망, 자택")
