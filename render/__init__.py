"""render: BlenderProc scenes from SceneConfigs -> COCO dataset dirs with a per-object sidecar."""
