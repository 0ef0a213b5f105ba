import { describe, expect, it } from 'vitest';
import { launcherCommand, detectFlavor } from '../../agent/solver/mpi.ts';

const mpi = { enabled: true, np: 8, mpirun: 'mpirun', extraArgs: [] as string[] };

describe('MPI launch', () => {
  it('detects the flavor from --version', () => {
    expect(detectFlavor('mpirun (Open MPI) 4.1.4')).toBe('openmpi');
    expect(detectFlavor('HYDRA build details:\n    Version: 4.0.2')).toBe('mpich');
    expect(detectFlavor('something else')).toBe('unknown');
  });
  it('builds mpirun -np N with the hostfile flag of the flavor and the solver argv last', () => {
    const l = launcherCommand(
      { ...mpi, hostfile: '/home/u/machinefile', extraArgs: ['--bind-to', 'core'] },
      ['converge', 'super'],
      'openmpi',
      { isRoot: false, cores: 8, env: {} },
    );
    expect([l.file, ...l.args]).toEqual([
      'mpirun',
      '-np',
      '8',
      '--hostfile',
      '/home/u/machinefile',
      '--bind-to',
      'core',
      'converge',
      'super',
    ]);
    const mpich = launcherCommand({ ...mpi, hostfile: '/m' }, ['s'], 'mpich', { isRoot: false, env: {} });
    expect(mpich.args).toEqual(['-np', '8', '-f', '/m', 's']);
  });
  it('lets Open MPI run as root and oversubscribe only when needed, never overriding the user', () => {
    expect(launcherCommand(mpi, ['s'], 'openmpi', { isRoot: true, cores: 2, env: {} }).env).toEqual({
      OMPI_ALLOW_RUN_AS_ROOT: '1',
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
      OMPI_MCA_rmaps_base_oversubscribe: '1',
    });
    expect(launcherCommand(mpi, ['s'], 'openmpi', { isRoot: false, cores: 8, env: {} }).env).toEqual({});
    expect(
      launcherCommand(mpi, ['s'], 'openmpi', {
        isRoot: true,
        cores: 2,
        env: { OMPI_ALLOW_RUN_AS_ROOT: '0', OMPI_MCA_rmaps_base_oversubscribe: '0' },
      }).env,
    ).toEqual({});
    expect(launcherCommand(mpi, ['s'], 'mpich', { isRoot: true, cores: 2, env: {} }).env).toEqual({});
  });
  it('runs the solver directly with --no-mpi', () => {
    const l = launcherCommand({ ...mpi, enabled: false }, ['./run.sh', 'a'], 'unknown', { isRoot: false, env: {} });
    expect([l.file, ...l.args]).toEqual(['./run.sh', 'a']);
  });
});
