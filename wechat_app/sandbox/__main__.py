"""Run the sandbox without Django: ``python -m wechat_app.sandbox --port 8081 --app wxid:secret``."""
import argparse
import logging

from .server import SandboxServer


def main(argv=None):
    parser = argparse.ArgumentParser(description="A fake api.weixin.qq.com for offline work and tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--app", action="append", default=[], metavar="APPID:SECRET",
                        help="register an app (repeatable)")
    parser.add_argument("--followers", type=int, default=0, help="generated followers per app")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    server = SandboxServer(args.host, args.port)
    for item in args.app:
        app_id, _, secret = item.partition(":")
        server.state.add_app(app_id, secret)
        server.state.add_followers(app_id, count=args.followers)
    print(f"WeChat sandbox on {server.url} (inspection API: {server.url}/_sandbox/)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
