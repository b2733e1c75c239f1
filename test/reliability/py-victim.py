"""Python kill victims of the reliability suites (test/reliability): the Python peer in the roles the Node and C
victims play, printing the same lines. Usage: python py-victim.py <role> <args...>
  rpc-serve <name> <workers> [zc]   serves "ok:<text>" (bytes echoed) until killed or "stop"; prints "serving"
"""
import sys

import shmbus


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_stop():
    for line in sys.stdin:
        if line.strip() == "stop":
            return


def rpc_serve(name, workers, zc=None):
    def handler(req):
        return f"ok:{req.text()}" if req.is_text else bytes(req.data)

    server = shmbus.Rpc.serve(name, handler, workers=int(workers), copy=zc != "zc")
    say("serving")
    wait_stop()
    server.close()
    say("stopped")


ROLES = {"rpc-serve": rpc_serve}

if __name__ == "__main__":
    ROLES[sys.argv[1]](*sys.argv[2:])
