import { simulationSuite } from './simulation.js';

simulationSuite(201, 300);
