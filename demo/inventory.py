"""The demo's inventory: three throwaway lab hosts (started on demand by `@lab/3`).

Every host of the `lab` group gets the group's data; one host overrides a value.
"""

lab = ["@lab/3"]

group_data = {
    "lab": {
        "app_port": 8080,
        "app_workers": 2,
        "log_level": "info",
    },
}
