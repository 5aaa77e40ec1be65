class ConsentRequired(Exception):
    """Health data may not be stored or processed without the patient's consent."""
