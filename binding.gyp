{
  "targets": [
    {
      "target_name": "shmbus",
      "sources": [
        "src/native/addon.cc",
        "src/native/sab.cc",
        "src/native/shm_posix.cc",
        "src/native/waiter.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_EXPERIMENTAL", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lrt", "-lpthread"]
    }
  ]
}
