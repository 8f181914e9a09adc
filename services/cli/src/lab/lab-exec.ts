import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { CliError } from '../errors';
import { listNamespaces, nsenterArgs, requireRoot, requireTools } from './host';
import { assertLabName, requireState } from './lab-state';

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * `strata lab exec <pod> -- <cmd...>`: runs the command in the pod's network namespace with
 * `nsenter --net=` (not `ip netns exec`, which remounts /sys and hides the pinned maps), its
 * input and output the CLI's own. Resolves with its exit code (128 + n when signal n ended it);
 * signals sent to the CLI are passed on to it.
 */
export async function labExec(options: {
  name: string;
  dataDir: string;
  pod: string;
  command: readonly string[];
}): Promise<number> {
  const state = await requireState(options.dataDir, assertLabName(options.name));
  const pod = state.pods.find((candidate) => candidate.name === options.pod);
  if (pod === undefined) {
    throw new CliError(
      'PodNotFound',
      `lab ${state.name} has no pod ${options.pod}; it has ${state.pods.map((p) => p.name).join(', ') || 'none'}`,
    );
  }
  if (options.command.length === 0) {
    throw new CliError('InvalidArgument', 'give the command to run after --');
  }
  requireRoot();
  await requireTools(['nsenter']);
  if (!(await listNamespaces()).includes(pod.namespace)) {
    throw new CliError(
      'PodNotFound',
      `the namespace ${pod.namespace} of pod ${pod.name} is gone (\`strata lab status --name ${state.name}\`)`,
    );
  }
  const child = spawn('nsenter', nsenterArgs(pod.namespace, options.command), {
    stdio: 'inherit',
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (error) =>
        reject(new CliError('ExecFailed', `nsenter: ${error.message}`, { cause: error })),
      );
      child.once('exit', (code, signal) =>
        resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])),
      );
    });
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}
