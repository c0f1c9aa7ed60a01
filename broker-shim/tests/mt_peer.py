#!/usr/bin/python3
"""mt_peer - the .NET side of the broker shim's tests, played with pika.

A real third-party AMQP client (Debian's python3-pika) that declares and
uses RabbitMQ the way MassTransit v8 does (INTEROP.md sections 1 to 3), so
the C tests can check the shim against something other than our own
librabbitmq code. Subcommands:

  consume  --url U --endpoint NAME --bind EXCHANGE.. --out FILE [--compact]
      A MassTransit receive endpoint: fanout exchange NAME and durable queue
      NAME bound to it, and an exchange-to-exchange binding from each
      message-type EXCHANGE (declared fanout, durable, as MassTransit does).
      Every delivery becomes one JSON line in FILE (properties, headers,
      routing, the body as text), flushed, then acked. A line
      {"ready": true} is written once consuming. Reconnects (every 0.2 s)
      when the broker goes away. Runs until SIGTERM.
  publish  --url U --spec FILE
      Publishes the messages of FILE (JSON lines: exchange, routing_key,
      body (text) or body_json (object), content_type, message_id,
      headers) with publisher confirms; exit 0 once all are confirmed.
  get      --url U --queue Q --out FILE
      Takes (and acks) every message now in Q, one JSON line each as for
      consume; exit 0.
  delete   --url U [--queue Q].. [--exchange E]..
      Deletes what a test declared.
  exists   --url U --queue Q
      Asks the broker (a passive declare) whether Q exists: exit 0 if it
      does, 3 if it does not.
"""

import argparse
import json
import signal
import sys
import time

import pika

STOP = False


def on_term(signum, frame):
    global STOP
    STOP = True


def connect(url):
    params = pika.URLParameters(url)
    params.heartbeat = 10
    params.blocked_connection_timeout = 30
    params.connection_attempts = 1
    params.socket_timeout = 5
    return pika.BlockingConnection(params)


def headers_text(headers):
    """Header values as JSON: bytes as UTF-8 text, the rest as they are."""
    result = {}
    for name, value in (headers or {}).items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif not isinstance(value, (str, int, float, bool, type(None))):
            value = str(value)
        result[name] = value
    return result


def delivery_line(method, properties, body, compact):
    if compact:
        text = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
            body_id = parsed.get("messageId")
            order_id = (parsed.get("message") or {}).get("orderId")
        except ValueError:
            body_id = order_id = None
        return {"message_id": properties.message_id, "body_message_id": body_id,
                "order_id": order_id, "redelivered": method.redelivered}
    return {
        "exchange": method.exchange,
        "routing_key": method.routing_key,
        "redelivered": method.redelivered,
        "content_type": properties.content_type,
        "delivery_mode": properties.delivery_mode,
        "message_id": properties.message_id,
        "correlation_id": properties.correlation_id,
        "headers": headers_text(properties.headers),
        "has_headers": properties.headers is not None,
        "body": body.decode("utf-8", "replace"),
    }


def endpoint_topology(channel, endpoint, bindings):
    """What MassTransit declares for receive endpoint `endpoint`."""
    channel.exchange_declare(endpoint, "fanout", durable=True, auto_delete=False)
    channel.queue_declare(endpoint, durable=True, exclusive=False, auto_delete=False)
    channel.queue_bind(endpoint, endpoint, routing_key="")
    for exchange in bindings:
        channel.exchange_declare(exchange, "fanout", durable=True, auto_delete=False)
        channel.exchange_bind(destination=endpoint, source=exchange, routing_key="")


def consume(args):
    signal.signal(signal.SIGTERM, on_term)
    out = open(args.out, "a", encoding="utf-8")
    announced = False
    while not STOP:
        try:
            connection = connect(args.url)
            channel = connection.channel()
            endpoint_topology(channel, args.endpoint, args.bind)
            channel.basic_qos(prefetch_count=200)
            if not announced:
                out.write(json.dumps({"ready": True}) + "\n")
                out.flush()
                announced = True
            for method, properties, body in channel.consume(args.endpoint, inactivity_timeout=0.2):
                if STOP:
                    break
                if method is None:
                    continue
                out.write(json.dumps(delivery_line(method, properties, body, args.compact)) + "\n")
                out.flush()
                channel.basic_ack(method.delivery_tag)
            connection.close()
        except (pika.exceptions.AMQPError, OSError) as error:
            print("mt_peer consume: %r; reconnecting" % (error,), file=sys.stderr, flush=True)
            time.sleep(0.2)
    out.close()
    return 0


def publish(args):
    connection = connect(args.url)
    channel = connection.channel()
    channel.confirm_delivery()
    with open(args.spec, encoding="utf-8") as spec:
        for line in spec:
            if not line.strip():
                continue
            message = json.loads(line)
            if "body_json" in message:
                body = json.dumps(message["body_json"], indent=2).encode("utf-8")
            else:
                body = message.get("body", "").encode("utf-8")
            properties = pika.BasicProperties(
                content_type=message.get("content_type"),
                message_id=message.get("message_id"),
                delivery_mode=2,
                headers=message.get("headers", {}))
            # Raises if the broker nacks or returns: the test then fails.
            channel.basic_publish(message["exchange"], message.get("routing_key", ""), body,
                                  properties, mandatory=False)
    connection.close()
    return 0


def get(args):
    connection = connect(args.url)
    channel = connection.channel()
    with open(args.out, "a", encoding="utf-8") as out:
        while True:
            method, properties, body = channel.basic_get(args.queue, auto_ack=False)
            if method is None:
                break
            out.write(json.dumps(delivery_line(method, properties, body, False)) + "\n")
            channel.basic_ack(method.delivery_tag)
    connection.close()
    return 0


def delete(args):
    connection = connect(args.url)
    channel = connection.channel()
    for queue in args.queue:
        channel.queue_delete(queue)
    for exchange in args.exchange:
        channel.exchange_delete(exchange)
    connection.close()
    return 0


def exists(args):
    connection = connect(args.url)
    channel = connection.channel()
    try:
        channel.queue_declare(args.queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as closed:
        if closed.reply_code == 404:
            connection.close()
            return 3
        raise
    connection.close()
    return 0


def main():
    parser = argparse.ArgumentParser(description="The .NET side of the shim's tests")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("consume")
    command.add_argument("--url", required=True)
    command.add_argument("--endpoint", required=True)
    command.add_argument("--bind", action="append", default=[])
    command.add_argument("--out", required=True)
    command.add_argument("--compact", action="store_true")
    command = commands.add_parser("publish")
    command.add_argument("--url", required=True)
    command.add_argument("--spec", required=True)
    command = commands.add_parser("get")
    command.add_argument("--url", required=True)
    command.add_argument("--queue", required=True)
    command.add_argument("--out", required=True)
    command = commands.add_parser("delete")
    command.add_argument("--url", required=True)
    command.add_argument("--queue", action="append", default=[])
    command.add_argument("--exchange", action="append", default=[])
    command = commands.add_parser("exists")
    command.add_argument("--url", required=True)
    command.add_argument("--queue", required=True)
    args = parser.parse_args()
    handlers = {"consume": consume, "publish": publish, "get": get, "delete": delete,
                "exists": exists}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
