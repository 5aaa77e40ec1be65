"""Unit conversion for lab results: one test's history in one unit.

Mass-concentration units convert by their prefixes; mass to molar concentration needs the
analyte's molar mass, known here for the common tests by LOINC code.
"""

# Grams per litre of each mass-concentration unit.
_MASS_PER_LITRE = {
    "g/l": 1.0,
    "g/dl": 10.0,
    "mg/dl": 0.01,
    "mg/l": 0.001,
    "ug/ml": 0.001,
    "µg/ml": 0.001,
    "ug/dl": 0.00001,
    "µg/dl": 0.00001,
    "ng/ml": 0.000001,
    "mg/ml": 1.0,
}
# Moles per litre of each molar-concentration unit.
_MOLES_PER_LITRE = {"mol/l": 1.0, "mmol/l": 1e-3, "umol/l": 1e-6, "µmol/l": 1e-6, "nmol/l": 1e-9}

# Molar mass (g/mol) of analytes by LOINC code, for mass <-> molar conversions.
_MOLAR_MASS_BY_LOINC = {
    # Glucose
    "2345-7": 180.156,
    "2339-0": 180.156,
    "15074-8": 180.156,
    "41653-7": 180.156,
    # Cholesterol: total, HDL, LDL
    "2093-3": 386.65,
    "2085-9": 386.65,
    "18262-6": 386.65,
    "13457-7": 386.65,
    # Triglycerides (as triolein)
    "2571-8": 885.7,
    # Creatinine
    "2160-0": 113.12,
    "38483-4": 113.12,
    # Urea nitrogen (as nitrogen, 2 x 14.007)
    "6299-2": 28.014,
    "3094-0": 28.014,
    # Calcium
    "17861-6": 40.078,
    "49765-1": 40.078,
}


class UnitMismatch(ValueError):
    """Two units of one test cannot be converted into each other."""


def _norm(unit: str) -> str:
    return unit.strip().lower().replace(" ", "")


def convert(value: float, from_unit: str, to_unit: str, *, loinc_code: str = "") -> float:
    """`value` in `from_unit` expressed in `to_unit`; raises UnitMismatch when impossible."""
    source, target = _norm(from_unit), _norm(to_unit)
    if source == target:
        return value
    if source in _MASS_PER_LITRE and target in _MASS_PER_LITRE:
        return value * _MASS_PER_LITRE[source] / _MASS_PER_LITRE[target]
    if source in _MOLES_PER_LITRE and target in _MOLES_PER_LITRE:
        return value * _MOLES_PER_LITRE[source] / _MOLES_PER_LITRE[target]
    molar_mass = _MOLAR_MASS_BY_LOINC.get(loinc_code)
    if molar_mass:
        if source in _MASS_PER_LITRE and target in _MOLES_PER_LITRE:
            return value * _MASS_PER_LITRE[source] / molar_mass / _MOLES_PER_LITRE[target]
        if source in _MOLES_PER_LITRE and target in _MASS_PER_LITRE:
            return value * _MOLES_PER_LITRE[source] * molar_mass / _MASS_PER_LITRE[target]
    raise UnitMismatch(f"cannot convert {from_unit!r} to {to_unit!r}")


def can_convert(from_unit: str, to_unit: str, *, loinc_code: str = "") -> bool:
    """Whether `convert` would succeed for these units."""
    try:
        convert(1.0, from_unit, to_unit, loinc_code=loinc_code)
    except UnitMismatch:
        return False
    return True
