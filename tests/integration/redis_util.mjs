// Real redis-server processes for the Redis engine's tests: started on a
// free loopback port in a directory of the test's Env, stopped by
// env.cleanup() like every other process.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { ServerProcess, freePort, waitFor } from './harness.mjs';

/** Encodes one command in RESP (an array of bulk strings). */
function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/**
 * Sends one command to the Redis on `port` and resolves with its first reply
 * line ("+PONG", ":3", "$5" followed by the value on the next line, ...), as
 * raw text; rejects on a connection error or after `timeoutMs`.
 */
export function redisCommand(port, args, { timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]} on port ${port} timed out`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
      const first = text.indexOf('\r\n');
      if (first < 0) return;
      const head = text.slice(0, first);
      if (head[0] === '$' && Number(head.slice(1)) >= 0) {
        const second = text.indexOf('\r\n', first + 2);
        if (second < 0) return;
      }
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(encode(args));
  });
}

/**
 * Starts redis-server (Debian's, from PATH) on 127.0.0.1. Options: `port`
 * and `dir` to restart one on its old port and data; `args`, extra server
 * arguments (e.g. ['--appendonly', 'yes']). Resolves with the ServerProcess,
 * which has `redisPort`, `redisDir` and `redisArgs`, once PING answers.
 */
export async function startRedis(env, { port, dir, args = [] } = {}) {
  const redisPort = port ?? (await freePort());
  const redisDir = dir ?? fs.mkdtempSync(path.join(env.dir, 'redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', redisDir, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: redisDir },
  );
  const proc = new ServerProcess(`redis-server:${redisPort}`, child);
  env.processes.push(proc);
  proc.redisPort = redisPort;
  proc.redisDir = redisDir;
  proc.redisArgs = args;
  await waitFor(
    async () => {
      if (!proc.running) throw new Error(`redis-server exited: ${JSON.stringify(proc.exitInfo)}`);
      try {
        return (await redisCommand(redisPort, ['PING'])).startsWith('+PONG');
      } catch {
        return false;
      }
    },
    10_000,
    `redis-server on port ${redisPort} to answer PING`,
  );
  return proc;
}

/** SIGKILLs a Redis started by startRedis and waits for it to end. */
export async function killRedis(proc) {
  proc.expectExit({ signal: 'SIGKILL' });
  proc.child.kill('SIGKILL');
  await proc.exited;
}

/** A config file with the Redis engine at `redis` plus `config`'s other keys. */
export function redisConfig(env, name, redis, config = {}) {
  return env.writeConfig(name, {
    ...config,
    engine: { type: 'redis', redis: { address: `127.0.0.1:${redis.redisPort}`, command_timeout: '1s' } },
  });
}
