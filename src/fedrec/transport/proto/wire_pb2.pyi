# Hand-written stub: the generated module builds its classes at import time.
from typing import Any

Envelope: Any
Tensor: Any
