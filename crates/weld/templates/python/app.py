"""The {{name}} tool.

componentize-py generates the `wit_world` module from wit/{{name}}.wit at
build time; `WitWorld` implements it, one method per exported function
(kebab-case names in snake_case). A WIT `result<T, string>` is returned by
returning T, and its error (the tool error the model sees) by raising
`Err(message)`.
"""

import wit_world
from componentize_py_types import Err


class WitWorld(wit_world.WitWorld):
    def greet(self, name: str) -> str:
        if not name.strip():
            raise Err("name is empty: say who to greet")
        return f"Hello, {name}!"
